/**
 * Durable state of the proxy on two core logs: the main log (requests, retry state, idempotency keys) and
 * the dead-letter log. Every change is an append or an ack, so after a crash `recover()` rebuilds exactly
 * the acknowledged state.
 *
 * Crash windows are closed by order and de-duplication: a new ATTEMPT record is durable before the old
 * one is acked (recovery keeps the highest attempt); a DEAD record is durable before the request is acked
 * (recovery acks a request whose id is already dead-lettered).
 *
 * A redrive keeps the message id (receivers de-duplicate on it): the copy is a new request record, at a new
 * sequence number, whose id still names the original one, and which carries the dead-letter seq it was
 * made from (`redriveOf`). The copy is durable before its dead letter is acked; a crash in between leaves
 * both, and recovery finishes the redrive (acks the letter). A copy that is dead-lettered again is a new
 * DEAD record with the same id; recovery acks any letter a later one was redriven from.
 */
import { join } from 'node:path';
import { type CoreError, DurableLog, type FsyncPolicy, type Logger, noopLogger } from '@dispatcher/core';
import { CappedMap } from '../capped-map.js';
import { proxyMessageId, seqOfMessageId } from '../proxy-message-id.js';
import { type DeliveredInfo, DeliveryJournal } from './delivery-journal.js';
import { type AttemptState, type DeadLetterInfo, DeadRecord, MainRecord } from './record-types.js';
import { isStorageFailure } from './storage-failure.js';
import {
  decodeStoredRequest,
  encodeStoredRequest,
  peekStoredRequest,
  type StoredRequest,
  type StoredRequestSummary,
} from './stored-request.js';

export interface ProxyStoreOptions {
  /** Directory of the main log. */
  dir: string;
  /** Directory of the dead-letter log. @defaultValue `<dir>/dead-letter` */
  deadLetterDir?: string;
  /** Keep the full history (event sourcing). @defaultValue false */
  eventSourcing?: boolean;
  fsync?: FsyncPolicy;
  logger?: Logger;
  /**
   * Most idempotency keys remembered; past it the oldest key is forgotten (and its record acked) before its
   * window ends, so a repeat of it is accepted again. About 200 bytes of memory each.
   * @defaultValue 1,000,000
   */
  maxIdempotencyKeys?: number;
  /**
   * Most dead-letter ids indexed in memory (newest kept). A look-up of an older letter by id scans the
   * dead-letter log instead (slower; the letter is still there). About 150 bytes of memory each.
   * @defaultValue 1,000,000
   */
  maxDeadLetterIds?: number;
  /**
   * Most delivered message ids remembered (newest kept, across restarts, in the delivery journal) so that
   * `/messages/{id}` answers `delivered`; older ones answer 404. About 200 bytes of memory and 100 bytes of
   * disk each.
   * @defaultValue 100,000
   */
  maxDeliveredIds?: number;
  /**
   * Bytes of the main log pre-allocated ahead of its records (core `DurableLog` `preallocateBytes`); the
   * dead-letter log, rarely written, gets none. @defaultValue 0 (off)
   */
  preallocateBytes?: number;
  /** How the main log makes a batch durable (core `DurableLog` `syncMethod`). @defaultValue 'fdatasync' */
  syncMethod?: 'fdatasync' | 'dsync';
}

/** Defaults of {@link ProxyStoreOptions}. */
export const PROXY_STORE_DEFAULTS = {
  maxIdempotencyKeys: 1_000_000,
  maxDeadLetterIds: 1_000_000,
  maxDeliveredIds: 100_000,
  // Both off until a quiet machine shows them faster end to end (see the README's benchmark notes).
  preallocateBytes: 0,
  syncMethod: 'fdatasync' as 'fdatasync' | 'dsync',
} as const;

/** A request waiting for delivery, as found by recovery (no body: it is read back when delivered). */
export interface PendingRequest {
  seq: number;
  request: StoredRequestSummary;
  attempt?: AttemptState;
}

export interface DeadLetter {
  seq: number;
  info: DeadLetterInfo;
  request: StoredRequest;
}

interface IdempotencyEntry {
  id: string;
  expiresAt: number;
  seq: number;
}

export class ProxyStore {
  readonly main: DurableLog;
  readonly dead: DurableLog;
  readonly journal: DeliveryJournal;
  /**
   * Retry state by request seq (requests attempted at least once), with the seq of its ATTEMPT record
   * (none when recovery rebuilt it from a STARTED marker only).
   */
  readonly #attempts = new Map<number, { state: AttemptState; seq: number | undefined }>();
  readonly #idempotency: CappedMap<string, IdempotencyEntry>;
  /** Dead-lettered request ids → DEAD record seq, the newest `maxDeadLetterIds` (older ones: a log scan). */
  readonly #deadIds: CappedMap<string, number>;
  /** Whether the index ever dropped an id: until then, an id it lacks is no dead letter (no scan). */
  #deadIdsEvicted = false;
  /** Ids of pending redriven copies → their seq (their id names the original request's seq). */
  readonly #redriven = new Map<string, number>();
  readonly #log: Logger;
  /** DEAD records appended and not yet durable. */
  #deadPending = 0;
  /** Sequence numbers of request records recovery could not decode (reported, kept in the log). */
  readonly undecodable: number[] = [];

  private constructor(
    main: DurableLog,
    dead: DurableLog,
    journal: DeliveryJournal,
    log: Logger,
    options: ProxyStoreOptions,
  ) {
    this.main = main;
    this.dead = dead;
    this.journal = journal;
    this.#log = log;
    const d = PROXY_STORE_DEFAULTS;
    // An evicted key's record goes too, or the next recovery would bring it back.
    this.#idempotency = new CappedMap(options.maxIdempotencyKeys ?? d.maxIdempotencyKeys, (_key, entry) =>
      this.#ackInBackground(entry.seq, 'evicted idempotency key'),
    );
    this.#deadIds = new CappedMap(options.maxDeadLetterIds ?? d.maxDeadLetterIds, () => {
      this.#deadIdsEvicted = true;
    });
  }

  #ackInBackground(seq: number, what: string): void {
    this.main.ack(seq).catch((err: unknown) => this.#log.warn({ err, seq }, `ack of ${what} failed`));
  }

  static async open(options: ProxyStoreOptions): Promise<ProxyStore> {
    const common = {
      ...(options.fsync ? { fsync: options.fsync } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    };
    const main = await DurableLog.open({
      dir: options.dir,
      retainHistory: options.eventSourcing ?? false,
      preallocateBytes: options.preallocateBytes ?? PROXY_STORE_DEFAULTS.preallocateBytes,
      syncMethod: options.syncMethod ?? PROXY_STORE_DEFAULTS.syncMethod,
      ...common,
    });
    const logger = options.logger ?? noopLogger;
    let dead: DurableLog | undefined;
    try {
      dead = await DurableLog.open({
        dir: options.deadLetterDir ?? join(options.dir, 'dead-letter'),
        retainHistory: options.eventSourcing ?? false,
        ...common,
      });
      const journal = await DeliveryJournal.open(
        options.dir,
        options.maxDeliveredIds ?? PROXY_STORE_DEFAULTS.maxDeliveredIds,
        logger,
      );
      return new ProxyStore(main, dead, journal, logger, options);
    } catch (err) {
      await dead?.close();
      await main.close();
      throw err;
    }
  }

  /**
   * Reads both logs and hands each request still to deliver to `visit`, in acceptance order, without
   * keeping them: memory stays bounded with any backlog. Finishes what a crash interrupted: requests
   * already dead-lettered are acked, superseded ATTEMPT records are acked, expired idempotency keys are
   * dropped. Two passes over the main log: retry state is written after its request, so it is gathered
   * first. An attempt that was in flight when the process died (a STARTED marker in the journal above the
   * request's recorded attempts) counts as made: the next one gets the next number. Resolves with the
   * number of pending requests.
   */
  async recover(now: number, visit: (pending: PendingRequest) => void): Promise<number> {
    const started = await this.journal.recover();
    const deadStale: number[] = [];
    // Main-log seqs of requests that are dead letters but still live in the main log (a crash came between
    // the DEAD record and the request's ack): only a few, whatever the number of letters.
    const deadButLive = new Set<number>();
    for await (const rec of this.dead.live()) {
      if (rec.type !== DeadRecord.Dead) continue;
      const { request, from } = decodeDeadLetter(rec.body);
      // A copy of a letter that failed again: the letter it was made from is done (the redrive's ack of it
      // did not become durable before a crash).
      if (request.redriveOf !== undefined && this.dead.has(request.redriveOf))
        deadStale.push(request.redriveOf);
      if (this.main.has(from)) deadButLive.add(from);
      this.#deadIds.set(request.message.id, rec.seq);
    }
    const stale: number[] = [];
    // Highest seq this recovery read. Deliveries start while it still reads the log, so ATTEMPT records
    // above it were written by the live engine and are never stale here.
    let recoveredUpTo = -1;
    for await (const rec of this.main.live()) {
      recoveredUpTo = rec.seq;
      if (rec.type === MainRecord.Attempt) {
        const { s, ...state } = JSON.parse(rec.body.toString()) as AttemptState & { s: number };
        const known = this.#attempts.get(s);
        if (known && known.state.attempt >= state.attempt) {
          stale.push(rec.seq);
        } else {
          if (known?.seq !== undefined) stale.push(known.seq);
          this.#attempts.set(s, { state, seq: rec.seq });
        }
      } else if (rec.type === MainRecord.Idempotency) {
        const { k, i, x } = JSON.parse(rec.body.toString()) as { k: string; i: string; x: number };
        if (x <= now) stale.push(rec.seq);
        else this.#idempotency.set(k, { id: i, expiresAt: x, seq: rec.seq });
      }
      // Other types (requests; record types of a newer version) are left alone here.
    }
    let pending = 0;
    const live = new Set<number>();
    for await (const rec of this.main.live()) {
      if (rec.type !== MainRecord.Request) continue;
      let request: StoredRequestSummary;
      try {
        request = peekStoredRequest(rec.body);
      } catch (err) {
        // Left in the log (not acked) for inspection; the rest of the backlog still starts.
        this.#log.error({ err, seq: rec.seq }, 'a stored request cannot be decoded; skipped');
        this.undecodable.push(rec.seq);
        continue;
      }
      if (deadButLive.has(rec.seq)) {
        // Dead-lettered, and the crash came before the request's ack was durable.
        stale.push(rec.seq);
        continue;
      }
      if (request.redriveOf !== undefined && this.dead.has(request.redriveOf)) {
        // Redriven from that letter, which a crash kept: finish the redrive.
        deadStale.push(request.redriveOf);
        if (this.#deadIds.get(request.message.id) === request.redriveOf)
          this.#deadIds.delete(request.message.id);
      }
      if (seqOfMessageId(request.message.id) !== rec.seq) this.#redriven.set(request.message.id, rec.seq);
      const attempt = this.#withInterruptedAttempt(rec.seq, started.get(rec.seq), now);
      if (attempt) live.add(rec.seq);
      visit(attempt ? { seq: rec.seq, request, attempt } : { seq: rec.seq, request });
      pending++;
    }
    for (const [seq, entry] of this.#attempts) {
      if (!live.has(seq) && entry.seq !== undefined && entry.seq <= recoveredUpTo) {
        stale.push(entry.seq);
        this.#attempts.delete(seq);
      }
    }
    await this.journal.dropSettled((seq) => this.main.has(seq));
    if (stale.length > 0) await this.#ack(this.main, stale);
    if (deadStale.length > 0) await this.#ack(this.dead, deadStale);
    return pending;
  }

  /**
   * The retry state of pending request `seq` at recovery, counting an attempt its STARTED marker says was
   * in flight at the crash (its outcome unknown: the next attempt is due at once).
   */
  #withInterruptedAttempt(seq: number, started: number | undefined, now: number): AttemptState | undefined {
    const known = this.#attempts.get(seq);
    if (started === undefined || started <= (known?.state.attempt ?? 0)) return known?.state;
    const state: AttemptState = {
      attempt: started,
      nextAt: known?.state.nextAt ?? 0,
      firstAttemptAt: known?.state.firstAttemptAt ?? now,
      previousDelayMs: known?.state.previousDelayMs ?? 0,
      lastError: 'no outcome: the proxy stopped during this attempt',
    };
    this.#attempts.set(seq, { state, seq: known?.seq });
    return state;
  }

  /** Makes a new request durable; its id carries its sequence number. */
  async accept(
    build: (id: string) => StoredRequest,
    now: number,
    idempotency?: { key: string; windowMs: number },
  ): Promise<{ seq: number; id: string; request: StoredRequest }> {
    let request: StoredRequest | undefined;
    const accepted = this.main.appendWith(
      (seq) => {
        request = build(proxyMessageId(seq, now));
        return encodeStoredRequest(request);
      },
      { type: MainRecord.Request },
    );
    // Same batch as the request: one sync covers both.
    let idem: Promise<number> | undefined;
    if (idempotency && request) {
      const entry = { k: idempotency.key, i: request.message.id, x: now + idempotency.windowMs };
      idem = this.main.append(Buffer.from(JSON.stringify(entry)), { type: MainRecord.Idempotency });
      // It fails with the request (same batch), and then only the request's error is reported.
      idem.catch(() => {});
    }
    const seq = await accepted;
    const req = request as StoredRequest;
    if (req.redriveOf !== undefined) this.#redriven.set(req.message.id, seq);
    if (idempotency && idem) {
      // A key whose window ended and that the sweep has not dropped yet: its record goes now.
      const expired = this.#idempotency.get(idempotency.key);
      if (expired) this.#ackInBackground(expired.seq, 'expired idempotency key');
      this.#idempotency.set(idempotency.key, {
        id: req.message.id,
        expiresAt: now + idempotency.windowMs,
        seq: await idem,
      });
    }
    return { seq, id: req.message.id, request: req };
  }

  /** The id first accepted with `key`, while its window lasts. */
  idempotentId(key: string, now: number): string | undefined {
    const entry = this.#idempotency.get(key);
    return entry && entry.expiresAt > now ? entry.id : undefined;
  }

  /** Acks idempotency records whose window has passed. */
  async expireIdempotency(now: number): Promise<number> {
    const expired: number[] = [];
    for (const [key, entry] of this.#idempotency.entries()) {
      if (entry.expiresAt <= now) {
        expired.push(entry.seq);
        this.#idempotency.delete(key);
      }
    }
    if (expired.length > 0) await this.#ack(this.main, expired);
    return expired.length;
  }

  attemptState(seq: number): AttemptState | undefined {
    return this.#attempts.get(seq)?.state;
  }

  /**
   * Records that attempt `attempt` of request `seq` is about to be sent (see `DeliveryJournal`): resolves
   * once written to the OS, without an fsync.
   */
  attemptStarted(seq: number, attempt: number): Promise<void> {
    return this.journal.started(seq, attempt);
  }

  /** Records a failed attempt and when to try again. */
  async recordAttempt(seq: number, state: AttemptState): Promise<void> {
    const previous = this.#attempts.get(seq);
    const recSeq = await this.main.append(Buffer.from(JSON.stringify({ s: seq, ...state })), {
      type: MainRecord.Attempt,
    });
    this.#attempts.set(seq, { state, seq: recSeq });
    this.journal.settle(seq);
    if (previous?.seq !== undefined) await this.#ack(this.main, [previous.seq]);
  }

  /**
   * Where the request with this id lives in the main log: the seq its id encodes, or, for a redriven
   * copy still pending, the copy's. The caller checks that the record there has this id.
   */
  seqOf(id: string): number | undefined {
    return this.#redriven.get(id) ?? seqOfMessageId(id);
  }

  /**
   * The request left the log: its retry state goes too. With `delivered`, it was delivered, and a status
   * look-up of `id` says so (the newest `maxDeliveredIds`, across restarts).
   */
  async complete(seq: number, id?: string, delivered?: DeliveredInfo): Promise<void> {
    if (id !== undefined && delivered) this.journal.delivered(id, delivered);
    if (id !== undefined && this.#redriven.get(id) === seq) this.#redriven.delete(id);
    const attempt = this.#attempts.get(seq);
    this.#attempts.delete(seq);
    await this.#ack(this.main, attempt?.seq === undefined ? [seq] : [seq, attempt.seq]);
    this.journal.settle(seq);
  }

  /** Why the logs cannot write right now (disk full, I/O error), or undefined when they can. */
  get writeError(): CoreError | undefined {
    return this.main.writeError ?? this.dead.writeError;
  }

  /**
   * An ack whose ACK record could not be written (disk full) is still applied in memory, and the log
   * writes it as soon as it can: nothing to undo or retry here. Only a crash before that brings the record
   * back (at-least-once).
   */
  async #ack(log: DurableLog, seqs: number[]): Promise<void> {
    try {
      await log.ack(seqs);
    } catch (err) {
      if (!isStorageFailure(err)) throw err;
      this.#log.warn({ err, count: seqs.length }, 'acknowledgement not on disk yet; the log retries it');
    }
  }

  /** Moves a request to the dead-letter log (durable there before it leaves the main log). */
  async deadLetter(seq: number, request: StoredRequest, info: DeadLetterInfo): Promise<void> {
    // Not counted (nor findable) until it is durable: the log counts it live as soon as it is queued.
    this.#deadPending++;
    let deadSeq: number;
    try {
      deadSeq = await this.dead.append(encodeDeadLetter(info, request, seq), { type: DeadRecord.Dead });
    } finally {
      this.#deadPending--;
    }
    this.#deadIds.set(request.message.id, deadSeq);
    await this.complete(seq, request.message.id);
  }

  /**
   * The DEAD record seq of the letter with this id: from the index, or (for a letter older than the
   * newest `maxDeadLetterIds`) by scanning the dead-letter log, newest match kept.
   */
  async findDeadLetter(id: string): Promise<number | undefined> {
    const indexed = this.#deadIds.get(id);
    if (indexed !== undefined || !this.#deadIdsEvicted) return indexed;
    let found: number | undefined;
    for await (const rec of this.dead.live()) {
      if (rec.type === DeadRecord.Dead && peekDeadLetterId(rec.body) === id) found = rec.seq;
    }
    return found;
  }

  /** Dead-letter ids in the in-memory index (at most `maxDeadLetterIds`). */
  get indexedDeadLetterIds(): number {
    return this.#deadIds.size;
  }

  /** Dead letters stored (durable ones: each can be looked up, redriven and purged). */
  get deadLetterCount(): number {
    return this.dead.liveCount - this.#deadPending;
  }

  async readDeadLetter(deadSeq: number): Promise<DeadLetter> {
    const rec = await this.dead.read(deadSeq);
    return { seq: deadSeq, ...decodeDeadLetter(rec.body) };
  }

  async *deadLetters(fromSeq = 0): AsyncGenerator<DeadLetter> {
    for await (const rec of this.dead.live({ fromSeq })) {
      if (rec.type === DeadRecord.Dead) yield { seq: rec.seq, ...decodeDeadLetter(rec.body) };
    }
  }

  /** Removes dead letters (after a redrive, or a purge). */
  async removeDeadLetters(letters: ReadonlyArray<{ seq: number; request: StoredRequest }>): Promise<void> {
    // A redriven copy keeps the id: if it was dead-lettered again meanwhile, the id names the new letter.
    for (const l of letters) {
      if (this.#deadIds.get(l.request.message.id) === l.seq) this.#deadIds.delete(l.request.message.id);
    }
    await this.#ack(
      this.dead,
      letters.map((l) => l.seq),
    );
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.main.close(), this.dead.close(), this.journal.close()]);
  }

  destroy(err?: Error): void {
    this.main.destroy(err);
    this.dead.destroy(err);
    this.journal.destroy(err);
  }
}

/** `from`: the main-log seq the request left (recovery acks it if a crash kept it there). */
function encodeDeadLetter(info: DeadLetterInfo, request: StoredRequest, from: number): Buffer {
  const infoBytes = Buffer.from(JSON.stringify({ ...info, from }));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(infoBytes.length);
  return Buffer.concat([len, infoBytes, encodeStoredRequest(request)]);
}

function decodeDeadLetter(body: Buffer): { info: DeadLetterInfo; request: StoredRequest; from: number } {
  const len = body.readUInt32LE(0);
  const { from, ...info } = JSON.parse(body.subarray(4, 4 + len).toString()) as DeadLetterInfo & {
    from?: number;
  };
  const request = decodeStoredRequest(body.subarray(4 + len));
  // Letters written before `from` was recorded: their id's seq is the one they left (no copy kept ids then).
  return { info, request, from: from ?? (seqOfMessageId(request.message.id) as number) };
}

function peekDeadLetterId(body: Buffer): string {
  return peekStoredRequest(body.subarray(4 + body.readUInt32LE(0))).message.id;
}
