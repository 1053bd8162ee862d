/**
 * Feeds the delivery engine from the PostgreSQL store: claims due requests (fleet-wide limits applied by
 * the claim) whenever the engine has room, when another instance announces work (NOTIFY), and every
 * `pollMs` (retries falling due, leases of dead instances running out). Keeps the leases of requests in
 * flight alive. Each claimed request gets a local number for the engine.
 */
import type { Logger } from '@dispatcher/core';
import type { DeliveredInfo } from '../store/delivery-journal.js';
import type { ClaimedRequest, DestinationLimits, PgStore } from '../store/pg/pg-store.js';
import type { AttemptState, DeadLetterInfo } from '../store/record-types.js';
import type { StoredRequest } from '../store/stored-request.js';
import type { DeliveryOptions } from './delivery-options.js';
import { ruleMatches } from './destination-state.js';
import type { EngineStore } from './engine-store.js';

export interface PgWorkSourceOptions {
  /** Look for due work at least this often, in ms (retries, expired leases). @defaultValue 250 */
  pollMs?: number;
  /** Renew leases of requests in flight this often, in ms (a third of the lease). @defaultValue 10000 */
  renewMs?: number;
}

/** Defaults of {@link PgWorkSourceOptions}. */
export const PG_WORK_SOURCE_DEFAULTS = { pollMs: 250, renewMs: 10_000 } as const;

/** The part of the engine the source drives. */
export interface EngineIntake {
  readonly backlog: number;
  enqueue(seq: number, target: string, dueAt?: number, request?: StoredRequest): void;
  /** True while this instance would not attempt a request to `origin` now (its own breaker is open). */
  refuses(origin: string): boolean;
}

export class PgWorkSource implements EngineStore {
  readonly schedulesRetries = true;
  readonly #pg: PgStore;
  readonly #opts: DeliveryOptions;
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #renewMs: number;
  readonly #local = new Map<number, ClaimedRequest>();
  readonly #limits = new Map<string, DestinationLimits>();
  #engine: EngineIntake | undefined;
  #nextSeq = 1;
  #claiming = false;
  #again = false;
  #timers: NodeJS.Timeout[] = [];
  #stopped = false;

  constructor(pg: PgStore, delivery: DeliveryOptions, log: Logger, options: PgWorkSourceOptions = {}) {
    this.#pg = pg;
    this.#opts = delivery;
    this.#log = log.child({ component: 'pg-work-source' });
    this.#pollMs = options.pollMs ?? PG_WORK_SOURCE_DEFAULTS.pollMs;
    this.#renewMs = options.renewMs ?? PG_WORK_SOURCE_DEFAULTS.renewMs;
  }

  start(engine: EngineIntake): void {
    this.#engine = engine;
    this.#pg.listen(() => this.wake());
    const poll = setInterval(() => this.wake(), this.#pollMs);
    const renew = setInterval(() => {
      this.#pg
        .extendLeases([...this.#local.values()].map((c) => c.rowId))
        .catch((err: unknown) => this.#log.warn({ err }, 'lease renewal failed'));
    }, this.#renewMs);
    poll.unref();
    renew.unref();
    this.#timers.push(poll, renew);
    this.wake();
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
  }

  /** Requests claimed by this instance and not yet finished. */
  get held(): number {
    return this.#local.size;
  }

  /** Claims as much as the engine has room for; calls made meanwhile run one more round after it. */
  wake(): void {
    if (this.#stopped || !this.#engine) return;
    if (this.#claiming) {
      this.#again = true;
      return;
    }
    this.#claiming = true;
    void this.#claimRounds().finally(() => {
      this.#claiming = false;
    });
  }

  async #claimRounds(): Promise<void> {
    const engine = this.#engine as EngineIntake;
    do {
      this.#again = false;
      const room = this.#opts.workers - engine.backlog;
      if (room <= 0) return;
      let claimed: ClaimedRequest[];
      try {
        claimed = await this.#pg.claim(room, (origin) => this.#claimLimits(engine, origin));
      } catch (err) {
        this.#log.warn({ err }, 'claim failed; trying again at the next poll');
        return;
      }
      for (const c of claimed) {
        const seq = this.#nextSeq++;
        this.#local.set(seq, c);
        engine.enqueue(seq, c.request.target, 0, c.request);
      }
      // A full batch: there may be more.
      if (claimed.length >= room) this.#again = true;
    } while (this.#again && !this.#stopped);
  }

  /**
   * The limits a claim applies: none of a destination this instance's own breaker keeps shut (the fleet's
   * breaker may be closed or probing meanwhile; another instance takes the request then).
   */
  #claimLimits(engine: EngineIntake, origin: string): DestinationLimits {
    const l = this.limitsFor(origin);
    return engine.refuses(origin) ? { ...l, concurrency: 0 } : l;
  }

  /** Fleet-wide limits of a destination origin, from the delivery options' rules. */
  limitsFor(origin: string): DestinationLimits {
    let l = this.#limits.get(origin);
    if (!l) {
      const o = this.#opts;
      const rule = o.destinations.find((r) => ruleMatches(r.match, new URL(origin)));
      const rate = rule?.ratePerSec;
      l = {
        concurrency: rule?.concurrency ?? o.perDestinationConcurrency,
        ...(rate !== undefined && rate > 0 ? { ratePerSec: rate } : {}),
        burst: Math.max(1, rule?.burst ?? rate ?? 1),
        failureThreshold: rule?.failureThreshold ?? o.failureThreshold,
        cooldownMs: rule?.cooldownMs ?? o.cooldownMs,
        maxCooldownMs: o.maxCooldownMs,
      };
      if (this.#limits.size > 10_000) this.#limits.clear();
      this.#limits.set(origin, l);
    }
    return l;
  }

  has(seq: number): boolean {
    return this.#local.has(seq);
  }

  async readRequest(seq: number): Promise<StoredRequest | undefined> {
    return this.#local.get(seq)?.request;
  }

  attemptState(seq: number): AttemptState | undefined {
    return this.#local.get(seq)?.attempt;
  }

  // The lease stands for the STARTED marker: a crash leaves the request leased until expiry, then the
  // next claim counts the attempt; a graceful close counts the attempts it cuts short.
  async attemptStarted(seq: number, attempt: number): Promise<void> {
    const c = this.#local.get(seq);
    if (c) this.#pg.attemptStarted(c.rowId, attempt);
  }

  async recordAttempt(seq: number, state: AttemptState): Promise<void> {
    const c = this.#held(seq);
    // The breaker first: recording the attempt drops its lease, and a claim (by any instance) may then
    // look at the destination at once; it must see this failure.
    await this.#breaker(c, false);
    await this.#pg.recordAttempt(c.rowId, state);
  }

  async complete(seq: number, id: string, delivered: DeliveredInfo): Promise<void> {
    const c = this.#held(seq);
    await this.#pg.complete(c.rowId, id, delivered, originOf(c.request.target), c);
  }

  async deadLetter(seq: number, request: StoredRequest, info: DeadLetterInfo): Promise<void> {
    const c = this.#held(seq);
    // A 4xx answer means the destination is up (as the engine's own breaker counts it). Before the row
    // goes, for the same reason as in recordAttempt.
    await this.#breaker(c, info.reason.startsWith('status-4'));
    await this.#pg.deadLetter(c.rowId, request, info);
  }

  async handBack(seq: number, dueAt: number): Promise<void> {
    const c = this.#local.get(seq);
    if (c) await this.#pg.release([c.rowId], dueAt);
  }

  settled(seq: number): void {
    this.#local.delete(seq);
    this.wake();
  }

  #held(seq: number): ClaimedRequest {
    const c = this.#local.get(seq);
    if (!c) throw new Error(`request ${seq} is not held by this instance`);
    return c;
  }

  /** Reports an outcome to the fleet-wide breaker; a failure to do so is logged, not thrown. */
  #breaker(c: ClaimedRequest, ok: boolean): Promise<void> {
    const origin = originOf(c.request.target);
    return this.#pg
      .breakerOutcome(origin, ok, this.limitsFor(origin), c)
      .catch((err: unknown) => this.#log.warn({ err }, 'circuit breaker update failed'));
  }
}

function originOf(target: string): string {
  const slash = target.indexOf('/', target.indexOf('://') + 3);
  return slash < 0 ? target : target.slice(0, slash);
}
