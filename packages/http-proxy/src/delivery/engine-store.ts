import type { Logger } from '@dispatcher/core';
import type { DeliveredInfo } from '../store/delivery-journal.js';
import type { ProxyStore } from '../store/proxy-store.js';
import type { AttemptState, DeadLetterInfo } from '../store/record-types.js';
import { decodeStoredRequest, type StoredRequest } from '../store/stored-request.js';

/**
 * What the delivery engine needs of a store, by the engine's local request number `seq`. Two
 * implementations: the embedded log (`EmbeddedEngineStore`) and the PostgreSQL fleet store
 * (`PgWorkSource`).
 */
export interface EngineStore {
  /**
   * True when the store keeps the retry schedule itself (PostgreSQL: any instance may make the next
   * attempt): the engine forgets a request once its failed attempt is recorded.
   */
  readonly schedulesRetries: boolean;
  /** Whether `seq` is still to deliver. */
  has(seq: number): boolean;
  /** The request, or undefined when there is none to deliver any more. */
  readRequest(seq: number): Promise<StoredRequest | undefined>;
  attemptState(seq: number): AttemptState | undefined;
  /** The attempt is about to be sent (crash accounting). */
  attemptStarted(seq: number, attempt: number): Promise<void>;
  recordAttempt(seq: number, state: AttemptState): Promise<void>;
  complete(seq: number, id: string, delivered: DeliveredInfo): Promise<void>;
  deadLetter(seq: number, request: StoredRequest, info: DeadLetterInfo): Promise<void>;
  /**
   * Our side failed on this attempt: a store that schedules retries takes the request back, due at `dueAt`
   * (the engine forgets it); undefined = the engine schedules it again itself.
   */
  handBack?(seq: number, dueAt: number): Promise<void>;
  /** The engine is done with `seq` (delivered, dead-lettered, handed back). */
  settled?(seq: number): void;
}

/** The embedded log behind {@link EngineStore}. */
export class EmbeddedEngineStore implements EngineStore {
  readonly schedulesRetries = false;
  readonly #store: ProxyStore;
  readonly #log: Logger;

  constructor(store: ProxyStore, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  has(seq: number): boolean {
    return this.#store.main.has(seq);
  }

  async readRequest(seq: number): Promise<StoredRequest | undefined> {
    if (!this.#store.main.has(seq)) return undefined;
    const rec = await this.#store.main.read(seq);
    try {
      return decodeStoredRequest(rec.body);
    } catch (err) {
      // Reading again cannot help: reported and left in the log for inspection, as recovery does.
      this.#log.error({ err, seq }, 'pending request cannot be decoded; skipped');
      this.#store.undecodable.push(seq);
      return undefined;
    }
  }

  attemptState(seq: number): AttemptState | undefined {
    return this.#store.attemptState(seq);
  }

  attemptStarted(seq: number, attempt: number): Promise<void> {
    return this.#store.attemptStarted(seq, attempt);
  }

  recordAttempt(seq: number, state: AttemptState): Promise<void> {
    return this.#store.recordAttempt(seq, state);
  }

  complete(seq: number, id: string, delivered: DeliveredInfo): Promise<void> {
    return this.#store.complete(seq, id, delivered);
  }

  deadLetter(seq: number, request: StoredRequest, info: DeadLetterInfo): Promise<void> {
    return this.#store.deadLetter(seq, request, info);
  }
}
