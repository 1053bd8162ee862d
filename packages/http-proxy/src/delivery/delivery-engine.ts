/**
 * Schedules and performs deliveries. Requests wait per destination in FIFO queues (acceptance order) or,
 * when scheduled for later, in one due-time heap. A pump starts attempts while there is room under the
 * global worker limit, the destination's concurrency limit, its rate limit and its circuit breaker;
 * destinations take turns, so one slow or failing destination never holds up the others.
 *
 * One attempt:   read request ─▶ HTTP call ─▶ decide ─┬─ success ──────▶ callback? ─▶ ack
 *                                                     ├─ retry ────────▶ ATTEMPT record ─▶ heap (or the store's schedule)
 *                                                     └─ dead-letter ──▶ failure callback? ─▶ DEAD record ─▶ ack
 *                 any step throws (disk, signing…) ─────────────────────▶ heap (or handed back to the store)
 *                                                                          after 1 s, doubling up to 30 s
 *
 * The three outcome steps are in `settle-attempt.ts`; the backoff after our own failures is
 * `own-failure-backoff.ts` (core's `exponentialBackoff`, no jitter). A destination answer whose bookkeeping
 * threw is recorded again at the next try, not sent again.
 *
 * A callback is durable before its request leaves the main log, so a crash can repeat it but never lose it.
 * Each attempt's number is written to the delivery journal before it is sent (no fsync; see
 * `DeliveryJournal`). An attempt cut short by shutdown or a crash records no outcome: the request is still
 * pending at the next start, which counts that attempt and makes the next one.
 */
import {
  httpRetryClassifier,
  type Logger,
  MAX_TIMEOUT_MS,
  parseRetryAfter,
  type RetryDecider,
  type RetryOutcome,
  retryDecider,
} from '@dispatcher/core';
import { type WebhookSigner, webhookSigner } from '@dispatcher/core/http';
import type { Dispatcher } from 'undici';
import { ProxyError } from '../errors.js';
import type { ProxyMetrics } from '../proxy-metrics.js';
import type { StoredRequest } from '../store/stored-request.js';
import { AttemptSignal } from './attempt-signal.js';
import type { DeliveryEvent } from './delivery-event.js';
import type { DeliveryOptions } from './delivery-options.js';
import type { DeliveryThreads } from './delivery-threads.js';
import { DestinationState } from './destination-state.js';
import { DueHeap } from './due-heap.js';
import type { EngineStore } from './engine-store.js';
import { ownFailureBackoffMs } from './own-failure-backoff.js';
import {
  type AnsweredAttempt,
  type SettleDeps,
  settleDeadLetter,
  settleDelivered,
  settleRetry,
} from './settle-attempt.js';

export type { DeliveryEvent } from './delivery-event.js';

export interface DeliveryEngineDeps {
  store: EngineStore;
  dispatcher: Dispatcher;
  /** When given, HTTP calls are made on these worker threads instead of through `dispatcher`. */
  threads?: DeliveryThreads;
  logger: Logger;
  metrics: ProxyMetrics;
  clock?: () => number;
  /** Makes a callback durable and schedules it (the proxy's own accept path). */
  sendCallback: (url: string, event: DeliveryEvent) => Promise<void>;
}

// Requests due later than this are not kept in memory: they would sit there until due.
const HOT_WINDOW_MS = 1_000;
// The response body is read and dropped (keep-alive needs it consumed); no need to hold more than this.
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Destinations with a latency histogram of their own; the rest are labelled `other`. */
const MAX_LABELLED_DESTINATIONS = 500;

export class DeliveryEngine {
  /** Hosts with a latency label of their own (kept when their state is dropped and made again). */
  readonly #labelledHosts = new Set<string>();
  readonly #opts: DeliveryOptions;
  readonly #store: EngineStore;
  readonly #dispatcher: Dispatcher;
  readonly #threads: DeliveryThreads | undefined;
  readonly #log: Logger;
  readonly #metrics: ProxyMetrics;
  readonly #clock: () => number;
  readonly #sendCallback: DeliveryEngineDeps['sendCallback'];
  /** Destination states by index (the due-time heap refers to them so); holes are free for reuse. */
  readonly #dests: Array<DestinationState | undefined> = [];
  readonly #freeIndexes: number[] = [];
  /** Destination states by origin, least recently used first (dropped when idle past `maxDestinations`). */
  readonly #destByKey = new Map<string, DestinationState>();
  readonly #heap = new DueHeap();
  readonly #deciders = new Map<string, RetryDecider>();
  readonly #inflight = new Map<number, AttemptSignal>();
  readonly #cache = new Map<number, StoredRequest>();
  #cacheBytes = 0;
  #rr = 0;
  #heapTimer: NodeJS.Timeout | undefined;
  #heapTimerAt = Number.POSITIVE_INFINITY;
  #wakeTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #idle: Array<() => void> = [];
  readonly #sign: WebhookSigner | undefined;
  /** Consecutive attempts of a request that threw (store, signing…), for the backoff before the next. */
  readonly #errors = new Map<number, number>();
  /** Requests whose failure callback is stored but which are not dead-lettered yet (that step threw). */
  readonly #failureCallbackStored = new Set<number>();
  /**
   * Destination answers whose bookkeeping failed on our side: the next try records them again instead of
   * sending the request once more (a disk that stays full must not turn into a re-POST every 30 s, nor a
   * later 2xx contradict a dead-letter decision already announced by callback).
   */
  readonly #answered = new Map<number, { outcome: RetryOutcome; attempt: number }>();
  /** What the outcome steps (`settle-attempt.ts`) use of the engine. */
  readonly #settle: SettleDeps;

  constructor(options: DeliveryOptions, deps: DeliveryEngineDeps) {
    this.#opts = options;
    this.#store = deps.store;
    this.#dispatcher = deps.dispatcher;
    this.#threads = deps.threads;
    this.#log = deps.logger.child({ component: 'delivery' });
    this.#metrics = deps.metrics;
    this.#clock = deps.clock ?? Date.now;
    this.#sendCallback = deps.sendCallback;
    this.#sign = options.signingSecret === undefined ? undefined : signerFor(options.signingSecret);
    this.#settle = {
      store: this.#store,
      metrics: this.#metrics,
      log: this.#log,
      clock: this.#clock,
      sendCallback: this.#sendCallback,
      timer: (dest, outcome) => this.#timer(dest, outcome),
      failureCallbackStored: this.#failureCallbackStored,
    };
  }

  /** Requests accepted and not yet finished (queued, scheduled or in flight). */
  get backlog(): number {
    let n = this.#heap.size + this.#inflight.size;
    for (const d of this.#dests) n += d?.queue.size ?? 0;
    return n;
  }

  /** Destination states kept (see `maxDestinations`). */
  get destinations(): number {
    return this.#destByKey.size;
  }

  get inflight(): number {
    return this.#inflight.size;
  }

  /**
   * True while this instance's circuit breaker for `origin` lets no attempt through (open and cooling
   * down, or its probe in flight). Asks without taking the probe slot. A store that leases work (fleet
   * mode) claims nothing for such a destination: the lease would only sit here until handed back.
   */
  refuses(origin: string): boolean {
    const dest = this.#destByKey.get(origin);
    if (!dest || dest.breaker.state === 'closed') return false;
    const at = dest.breaker.nextProbeAt();
    return at === undefined || at > this.#clock();
  }

  /** True while `seq` is being attempted. */
  isInflight(seq: number): boolean {
    return this.#inflight.has(seq);
  }

  /**
   * Schedules a durable request: now, or at `dueAt`. `request`, when given, is kept in memory (within
   * `hotCacheBytes`) if it is due soon, so its delivery needs no disk read; otherwise it is read back.
   */
  enqueue(seq: number, target: string, dueAt = 0, request?: StoredRequest): void {
    const dest = this.#destination(originOf(target));
    const now = this.#clock();
    if (request && dueAt <= now + HOT_WINDOW_MS && this.#cacheBytes < this.#opts.hotCacheBytes) {
      this.#cache.set(seq, request);
      this.#cacheBytes += request.message.body.length + 512;
    }
    if (dueAt > now) {
      this.#schedule(dest, dueAt, seq);
    } else {
      dest.queue.push(seq);
      this.#pump();
    }
  }

  /**
   * Stops starting attempts, waits up to `timeoutMs` for those in flight, then aborts the rest (they stay
   * pending, untouched, for the next start).
   */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#heapTimer);
    clearTimeout(this.#wakeTimer);
    if (this.#inflight.size === 0) return;
    const drained = new Promise<void>((resolve) => this.#idle.push(resolve));
    const timer = setTimeout(() => {
      for (const signal of this.#inflight.values()) signal.abort(new Error('dispatcher shutting down'));
    }, timeoutMs);
    await drained;
    clearTimeout(timer);
  }

  #destination(key: string): DestinationState {
    let dest = this.#destByKey.get(key);
    // Most recently used last: idle states are dropped from the front.
    this.#destByKey.delete(key);
    if (!dest) {
      if (this.#destByKey.size >= this.#opts.maxDestinations) this.#dropIdleDestination();
      const index = this.#freeIndexes.pop() ?? this.#dests.length;
      dest = new DestinationState(index, key, this.#opts, this.#clock);
      this.#dests[index] = dest;
    }
    this.#destByKey.set(key, dest);
    return dest;
  }

  /**
   * Drops the least recently used idle destination state, if there is one (states in use are kept, so
   * the cap can be passed). A destination that comes back gets a fresh state, which behaves the same.
   */
  #dropIdleDestination(): void {
    for (const [key, dest] of this.#destByKey) {
      if (!dest.idle) continue;
      this.#destByKey.delete(key);
      this.#dests[dest.index] = undefined;
      this.#freeIndexes.push(dest.index);
      return;
    }
  }

  /** Puts `seq` in the due-time heap, for `dest`, due at `dueAt`. */
  #schedule(dest: DestinationState, dueAt: number, seq: number): void {
    this.#heap.push(dueAt, seq, dest.index);
    dest.scheduled++;
    this.#armHeapTimer();
  }

  #armHeapTimer(): void {
    const due = this.#heap.peekDue();
    if (due === undefined || this.#stopped || due >= this.#heapTimerAt) return;
    clearTimeout(this.#heapTimer);
    this.#heapTimerAt = due;
    const wait = Math.min(Math.max(0, due - this.#clock()), MAX_TIMEOUT_MS);
    this.#heapTimer = setTimeout(() => {
      this.#heapTimerAt = Number.POSITIVE_INFINITY;
      this.#releaseDue();
    }, wait);
    this.#heapTimer.unref();
  }

  #releaseDue(): void {
    const now = this.#clock();
    for (let due = this.#heap.peekDue(); due !== undefined && due <= now; due = this.#heap.peekDue()) {
      const e = this.#heap.pop();
      const dest = e && this.#dests[e.dest];
      if (e && dest) {
        dest.scheduled--;
        dest.queue.push(e.seq);
      }
    }
    this.#armHeapTimer();
    this.#pump();
  }

  #pump(): void {
    if (this.#stopped) return;
    const n = this.#dests.length;
    while (this.#inflight.size < this.#opts.workers) {
      let picked: DestinationState | undefined;
      for (let i = 0; i < n; i++) {
        const dest = this.#dests[(this.#rr + i) % n];
        if (!dest || dest.queue.size === 0 || dest.inflight >= dest.concurrency) continue;
        if (dest.bucket && dest.bucket.msUntilNext() > 0) continue;
        if (!dest.breaker.canAttempt()) {
          this.#handBackQueued(dest);
          continue;
        }
        dest.bucket?.tryTake();
        picked = dest;
        this.#rr = (this.#rr + i + 1) % n;
        break;
      }
      if (!picked) {
        this.#armWakeTimer();
        return;
      }
      const seq = picked.queue.shift() as number;
      // canAttempt() just said yes: outside `closed` that means this attempt holds the single probe slot.
      void this.#attempt(seq, picked, picked.breaker.state === 'half-open');
    }
  }

  /**
   * A store that leases work (fleet mode) gets back the requests queued for a destination this instance's
   * breaker keeps shut: here they would only hold their leases, renewed, until the local cooldown ends.
   * Due at once: the claim applies the fleet's breaker, and this instance claims none of them meanwhile
   * (see `refuses`), so another one attempts them if the fleet lets it.
   */
  #handBackQueued(dest: DestinationState): void {
    const store = this.#store;
    if (!store.schedulesRetries || !store.handBack || dest.queue.size === 0) return;
    const dueAt = this.#clock();
    while (dest.queue.size > 0) {
      const seq = dest.queue.shift() as number;
      this.#uncache(seq);
      // handBack reads what it needs of `seq` before its first await, so settled() may forget it at once.
      store
        .handBack(seq, dueAt)
        .catch((err: unknown) => this.#log.warn({ err, seq }, 'hand-back failed; the lease expires'));
      store.settled?.(seq);
    }
  }

  /** Some destination waits for its breaker or rate limit: look again when the earliest one opens up. */
  #armWakeTimer(): void {
    if (this.#wakeTimer) return;
    const now = this.#clock();
    let wait = Number.POSITIVE_INFINITY;
    for (const dest of this.#dests) {
      if (!dest || dest.queue.size === 0 || dest.inflight >= dest.concurrency) continue;
      const probe = dest.breaker.nextProbeAt();
      if (probe !== undefined) wait = Math.min(wait, probe - now);
      if (dest.bucket) wait = Math.min(wait, dest.bucket.msUntilNext());
    }
    if (!Number.isFinite(wait)) return;
    this.#wakeTimer = setTimeout(
      () => {
        this.#wakeTimer = undefined;
        this.#pump();
      },
      Math.min(Math.max(1, wait), MAX_TIMEOUT_MS),
    );
    this.#wakeTimer.unref();
  }

  #decider(request: StoredRequest, dest: DestinationState): RetryDecider {
    const retryLimit = request.retryLimit ?? this.#opts.retryLimit;
    const key = `${retryLimit}|${dest.rule?.match ?? ''}`;
    let decider = this.#deciders.get(key);
    if (!decider) {
      const statuses = dest.rule?.retryStatuses;
      decider = retryDecider({
        policy: this.#opts.retryPolicy(retryLimit + 1),
        classifier: httpRetryClassifier(statuses ? { retryStatuses: statuses } : {}),
        clock: this.#clock,
      });
      this.#deciders.set(key, decider);
    }
    return decider;
  }

  async #attempt(seq: number, dest: DestinationState, probe: boolean): Promise<void> {
    const signal = new AttemptSignal();
    this.#inflight.set(seq, signal);
    dest.inflight++;
    let finished = true;
    // Whether the breaker got this attempt's outcome; a probe that reports none must give its slot back.
    let reported = false;
    // Whether the next attempt is already in the heap.
    let scheduled = false;
    try {
      const request = this.#cache.get(seq) ?? (await this.#store.readRequest(seq));
      if (!request) return;
      const previous = this.#store.attemptState(seq);
      const answered = this.#answered.get(seq);
      const attempt = answered?.attempt ?? (previous?.attempt ?? 0) + 1;
      // The attempt number is on its way to disk (written, not synced) before the request leaves, so a
      // crash with the attempt in flight cannot make the next one repeat its number.
      if (!answered) await this.#store.attemptStarted(seq, attempt);
      const startedAt = this.#clock();
      const outcome = answered?.outcome ?? (await this.#call(request, attempt, dest, signal));
      // Aborted by shutdown (not by the attempt's own timeout): record nothing.
      if (signal.aborted && !isTimeout(outcome)) {
        finished = false; // shutdown: no attempt recorded, the request stays pending
        return;
      }
      this.#answered.set(seq, { outcome, attempt });
      const seconds = (this.#clock() - startedAt) / 1000;
      const firstAttemptAt = previous?.firstAttemptAt ?? startedAt;
      const verdict = this.#decider(request, dest).decide(outcome, {
        attempt,
        firstAttemptAt,
        ...(previous ? { previousDelayMs: previous.previousDelayMs } : {}),
      });
      const result: AnsweredAttempt = {
        seq,
        request,
        dest,
        attempt,
        seconds,
        firstAttemptAt,
        status: outcome.kind === 'status' ? outcome.status : undefined,
        error: outcome.kind === 'error' ? errorText(outcome.error) : undefined,
      };
      // Each step tells the breaker before its first await, so the probe slot is never left taken.
      reported = true;
      switch (verdict.action) {
        case 'success':
          await settleDelivered(this.#settle, result);
          break;
        case 'retry': {
          const nextAt = await settleRetry(this.#settle, result, verdict.delayMs);
          // A store that keeps the schedule (PostgreSQL) hands the next attempt to any instance.
          if (!this.#store.schedulesRetries) {
            finished = false;
            scheduled = true;
            this.#schedule(dest, nextAt, seq);
          }
          break;
        }
        case 'dead-letter':
        case 'give-up':
          await settleDeadLetter(this.#settle, result, verdict.reason);
          break;
      }
      this.#errors.delete(seq);
      this.#answered.delete(seq);
    } catch (err) {
      // Our side failed (a disk error, a record over the log's size limit, signing…), not the destination.
      // The request is still in the log: try it again after a backoff rather than leave it stranded (out of
      // the backlog, and holding the breaker's probe) until the next start.
      if (scheduled || !this.#store.has(seq)) {
        // The outcome was already settled (next attempt queued, or the request left the log).
        this.#log.error({ err, seq }, 'delivery bookkeeping failed after the outcome was recorded');
      } else finished = this.#retryAfterOwnFailure(err, seq, dest);
    } finally {
      if (probe && !reported) dest.breaker.cancelAttempt();
      this.#inflight.delete(seq);
      dest.inflight--;
      if (finished) {
        this.#uncache(seq);
        this.#errors.delete(seq);
        this.#answered.delete(seq);
        this.#failureCallbackStored.delete(seq);
        this.#store.settled?.(seq);
      }
      if (this.#stopped) {
        if (this.#inflight.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
      } else {
        this.#pump();
      }
    }
  }

  /**
   * Schedules `seq` again after the backoff for consecutive failures on our side, or hands it back to a
   * store that keeps the schedule. Returns whether the engine is done with `seq` (handed back).
   */
  #retryAfterOwnFailure(err: unknown, seq: number, dest: DestinationState): boolean {
    const errors = (this.#errors.get(seq) ?? 0) + 1;
    this.#errors.set(seq, errors);
    const delayMs = ownFailureBackoffMs(errors);
    this.#log.error({ err, seq, errors, retryInMs: delayMs }, 'attempt failed on our side; retrying later');
    if (this.#store.handBack) {
      this.#store
        .handBack(seq, this.#clock() + delayMs)
        .catch((e: unknown) => this.#log.warn({ err: e, seq }, 'hand-back failed; the lease expires'));
      return true;
    }
    this.#schedule(dest, this.#clock() + delayMs, seq);
    return false;
  }

  // Labelled children are looked up once per destination: observe() with labels hashes them every call.
  // Past MAX_LABELLED_DESTINATIONS hosts, the rest share the label `other`: any caller can name new hosts,
  // and every label set is a histogram kept for the life of the process.
  #timer(dest: DestinationState, outcome: 'delivered' | 'failed') {
    if (!dest.timers) {
      const labelled =
        this.#labelledHosts.has(dest.host) || this.#labelledHosts.size < MAX_LABELLED_DESTINATIONS;
      const label = labelled ? dest.host : 'other';
      if (labelled) this.#labelledHosts.add(dest.host);
      dest.timers = {
        delivered: this.#metrics.latency.labels(label, 'delivered'),
        failed: this.#metrics.latency.labels(label, 'failed'),
      };
    }
    const timers = dest.timers;
    return timers[outcome];
  }

  #uncache(seq: number): void {
    const cached = this.#cache.get(seq);
    if (cached) {
      this.#cache.delete(seq);
      this.#cacheBytes -= cached.message.body.length + 512;
    }
  }

  /**
   * One HTTP attempt. `signal` is the attempt's own: shutdown aborts it (through #inflight) and so does the
   * timeout, so each attempt needs one signal and no listeners.
   */
  async #call(
    request: StoredRequest,
    attempt: number,
    dest: DestinationState,
    signal: AttemptSignal,
  ): Promise<RetryOutcome> {
    const timeoutMs = request.timeoutMs ?? dest.rule?.timeoutMs ?? this.#opts.defaultTimeoutMs;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      signal.abort(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const headers: Record<string, string | string[]> = { ...request.message.headers };
    headers['x-dispatcher-message-id'] = request.message.id;
    headers['x-dispatcher-attempt'] = String(attempt);
    const body = request.message.body;
    if (this.#sign) {
      Object.assign(headers, this.#sign(request.message.id, Math.floor(this.#clock() / 1000), body));
    }
    const origin = originOf(request.target);
    try {
      let statusCode: number;
      let retryAfter: string | string[] | undefined;
      if (this.#threads) {
        // A thread that dies rejects with a ProxyError: rethrown below, a failure on our side, not an outcome.
        const answer = await this.#threads.request(
          {
            origin,
            path: request.target.slice(origin.length) || '/',
            method: request.method,
            headers,
            body,
            timeoutMs,
          },
          signal,
        );
        if ('error' in answer) throw answer.error;
        statusCode = answer.status;
        retryAfter = answer.retryAfter;
      } else {
        const res = await this.#dispatcher.request({
          origin,
          path: request.target.slice(origin.length) || '/',
          method: request.method as Dispatcher.HttpMethod,
          headers,
          body: body.length > 0 ? body : null,
          signal,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        await drain(res.body);
        // The deadline can fall while the body is read: dump() then resolves all the same, but the attempt
        // timed out (left as it was, the abort would pass for a shutdown and the request would wait for a restart).
        if (timedOut) throw signal.reason;
        statusCode = res.statusCode;
        retryAfter = res.headers['retry-after'];
      }
      const retryAfterMs =
        typeof retryAfter === 'string' ? parseRetryAfter(retryAfter, { now: this.#clock() }) : undefined;
      return retryAfterMs === undefined
        ? { kind: 'status', status: statusCode }
        : { kind: 'status', status: statusCode, retryAfterMs };
    } catch (err) {
      if (ProxyError.hasCode(err, 'DSP_PROXY_DELIVERY_THREAD') || ProxyError.hasCode(err, 'DSP_PROXY_CLOSED'))
        throw err;
      if (timedOut) {
        const e = new Error(`no answer within ${timeoutMs} ms`) as NodeJS.ErrnoException;
        e.code = 'ETIMEDOUT';
        return { kind: 'error', error: e };
      }
      return { kind: 'error', error: err };
    } finally {
      clearTimeout(timer);
    }
  }
}

async function drain(body: Dispatcher.ResponseData['body']): Promise<void> {
  // dump() reads and discards up to the limit, then closes: cheaper than iterating the stream.
  await body.dump({ limit: MAX_RESPONSE_BYTES });
}

/** `scheme://host[:port]` of an absolute URL string, without re-encoding its path. */
export function originOf(target: string): string {
  const slash = target.indexOf('/', target.indexOf('://') + 3);
  return slash < 0 ? target : target.slice(0, slash);
}

function isTimeout(outcome: RetryOutcome): boolean {
  return (
    outcome.kind === 'error' && (outcome.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT'
  );
}

/** Decodes the signing secret once, so a malformed one fails construction instead of every delivery. */
function signerFor(secret: string): WebhookSigner {
  try {
    return webhookSigner(secret);
  } catch (err) {
    throw new ProxyError('DSP_PROXY_INVALID_ARGUMENT', `signingSecret: ${(err as Error).message}`, {
      cause: err,
      details: { option: 'signingSecret' },
    });
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
