/**
 * The three ways an attempt that got the destination's answer ends (see the diagram in
 * `delivery-engine.ts`): delivered, retry later, dead-lettered. Each tells the destination's breaker first
 * (synchronously, before any await), then records the outcome in the store. A step that throws leaves the
 * request in the store: the engine tries the bookkeeping again later, without sending the request again.
 */
import type { Logger, StopReason } from '@dispatcher/core';
import type { ProxyMetrics } from '../proxy-metrics.js';
import type { StoredRequest } from '../store/stored-request.js';
import type { DeliveryEvent } from './delivery-event.js';
import type { DestinationState } from './destination-state.js';
import type { EngineStore } from './engine-store.js';

/** What the steps share with the engine. */
export interface SettleDeps {
  store: EngineStore;
  metrics: ProxyMetrics;
  log: Logger;
  clock: () => number;
  sendCallback: (url: string, event: DeliveryEvent) => Promise<void>;
  /** The destination's latency histogram for an outcome. */
  timer(dest: DestinationState, outcome: 'delivered' | 'failed'): { observe(seconds: number): void };
  /** Requests whose failure callback is stored but which are not dead-lettered yet (that step threw). */
  failureCallbackStored: Set<number>;
}

/** One attempt whose answer (or network error) is known. */
export interface AnsweredAttempt {
  seq: number;
  request: StoredRequest;
  dest: DestinationState;
  attempt: number;
  /** Seconds the attempt took. */
  seconds: number;
  firstAttemptAt: number;
  /** The destination's HTTP status, if it answered. */
  status: number | undefined;
  /** Why the attempt failed without an answer. */
  error: string | undefined;
}

/** Delivered: the success callback is stored, then the request is acked. */
export async function settleDelivered(deps: SettleDeps, a: AnsweredAttempt): Promise<void> {
  const { request, status } = a;
  a.dest.breaker.onSuccess();
  deps.timer(a.dest, 'delivered').observe(a.seconds);
  if (request.callbackUrl && request.kind !== 'callback') {
    await deps.sendCallback(request.callbackUrl, {
      id: request.message.id,
      event: 'delivered',
      attempts: a.attempt,
      ...(status === undefined ? {} : { status }),
      at: deps.clock(),
    });
  }
  // The slot is free as soon as the outcome is known: the ack leaves the live set at once, and its
  // fsync (group commit) only narrows the window for a duplicate after a crash, so it is not
  // awaited here. The log's close() flushes it.
  const delivered = {
    at: deps.clock(),
    attempts: a.attempt,
    ...(status === undefined ? {} : { status }),
  };
  deps.store.complete(a.seq, request.message.id, delivered).catch((err: unknown) => {
    deps.log.error(
      { err, seq: a.seq },
      'ack of a delivered request failed; it is delivered again at the next start',
    );
  });
  deps.metrics.delivered.inc();
}

/** Retry: the attempt is recorded with its next due time, which this resolves with. */
export async function settleRetry(deps: SettleDeps, a: AnsweredAttempt, delayMs: number): Promise<number> {
  const { status, error } = a;
  a.dest.breaker.onFailure();
  deps.timer(a.dest, 'failed').observe(a.seconds);
  const nextAt = deps.clock() + delayMs;
  await deps.store.recordAttempt(a.seq, {
    attempt: a.attempt,
    nextAt,
    firstAttemptAt: a.firstAttemptAt,
    previousDelayMs: delayMs,
    ...(status === undefined ? {} : { lastStatus: status }),
    ...(error === undefined ? {} : { lastError: error }),
  });
  deps.metrics.retried.inc();
  deps.log.debug(
    { id: a.request.message.id, attempt: a.attempt, status, error, nextAt },
    'attempt failed; retry scheduled',
  );
  return nextAt;
}

/**
 * Dead-letter: the failure callback is stored (once, even if this step is tried again), then the request
 * moves to the dead letters. `verdictReason` is the decider's: `not-retryable`, or why retries stopped.
 */
export async function settleDeadLetter(
  deps: SettleDeps,
  a: AnsweredAttempt,
  verdictReason: StopReason,
): Promise<void> {
  const { seq, request, status, error } = a;
  // A 4xx means the destination is up and answering: only exhausted retries count against it.
  if (verdictReason === 'not-retryable' && status !== undefined) a.dest.breaker.onSuccess();
  else a.dest.breaker.onFailure();
  deps.timer(a.dest, 'failed').observe(a.seconds);
  const reason =
    verdictReason === 'not-retryable'
      ? status === undefined
        ? 'not-retryable-error'
        : `status-${status}`
      : verdictReason;
  // The callback is stored while the request is still in the main log (as on success): a crash in
  // between repeats the callback at worst, where the other order could lose it.
  if (request.failureCallbackUrl && request.kind !== 'callback' && !deps.failureCallbackStored.has(seq)) {
    await deps.sendCallback(request.failureCallbackUrl, {
      id: request.message.id,
      event: 'dead-lettered',
      attempts: a.attempt,
      reason,
      ...(status === undefined ? {} : { status }),
      ...(error === undefined ? {} : { error }),
      at: deps.clock(),
    });
    // If the dead-letter step below throws, the attempt is made again: not the callback.
    deps.failureCallbackStored.add(seq);
  }
  await deps.store.deadLetter(seq, request, {
    reason,
    attempts: a.attempt,
    deadAt: deps.clock(),
    host: a.dest.host,
    ...(status === undefined ? {} : { lastStatus: status }),
    ...(error === undefined ? {} : { lastError: error }),
  });
  deps.failureCallbackStored.delete(seq);
  deps.metrics.deadLettered.inc();
  deps.log.warn(
    { id: request.message.id, attempts: a.attempt, reason, status, error },
    'request dead-lettered',
  );
}
