import type { TaskCodec } from './codec/task-codec.js';
import type { RetryOptions } from './task-config.js';

/** A per-worker rate limit: at most `max` task starts per `intervalMs` (token bucket). */
export interface RateLimit {
  /** Task starts allowed per interval; whole number >= 1. */
  max: number;
  /** Length of the interval, in milliseconds. */
  intervalMs: number;
}

/** Options of a worker (the Go `WorkerConfig`). */
export interface WorkerOptions {
  /** Worker name; also its consumer tag. Unique per server. */
  name: string;
  /** Queue the worker consumes (declared durable, with its binding keys and dead-letter queue). */
  queue: string;
  /**
   * Binding keys of the queue on the server's exchange.
   * @defaultValue `[]` (plus those of a matching entry in the server's `queues`)
   */
  bindingKeys?: readonly string[];
  /**
   * Tasks run at the same time, at most. Never exceeded, even by timed-out tasks whose functions ignore
   * their signal, whatever the prefetch.
   * @defaultValue `3` (as the Go library)
   */
  limit?: number;
  /**
   * Deliveries the broker may push ahead of acks (`basic.qos` per consumer), running ones included: at most
   * `prefetch - limit` wait in the worker for a free slot, so the next task is on hand when one ends
   * instead of a round trip away. `limit` still caps what runs. Waiting deliveries are unacked: another
   * worker on the queue cannot take them meanwhile (set `prefetch: limit` for long tasks, where that
   * matters more than the round trip), close() requeues them at once, and a crash or a lost connection
   * makes the broker deliver them again. A whole number in `limit`..65535.
   * @defaultValue `limit + max(limit, 64)` (capped at 65535): see {@link defaultPrefetch}
   */
  prefetch?: number;
  /**
   * `x-max-priority` of the queue (1–255) to honour task priorities; must match other declarations.
   * @defaultValue none (or the server's `queues` entry)
   */
  maxPriority?: number;
  /**
   * Timeout of one run when its task config names none, in milliseconds; `0` disables it.
   * @defaultValue `60_000`
   */
  defaultTimeoutMs?: number;
  /**
   * Retry policy when the task config names none.
   * @defaultValue exponential backoff, full jitter, `baseMs: 1_000`, `capMs: 60_000`, `maxAttempts: 5`
   */
  retry?: RetryOptions;
  /** Limit on task starts per interval; none by default. */
  rateLimit?: RateLimit;
  /**
   * Codecs the worker reads, chosen by content type.
   * @defaultValue `[jsonCodec, goCodec]`
   */
  codecs?: readonly TaskCodec[];
}

/** Defaults of {@link WorkerOptions}. */
export const DEFAULT_WORKER_OPTIONS = Object.freeze({
  limit: 3,
  /** Deliveries held ahead of `limit` by default, at least (see {@link defaultPrefetch}). */
  minPrefetchAhead: 64,
  /** Largest prefetch count AMQP can express (`basic.qos` takes 16 bits). */
  maxPrefetch: 65_535,
  defaultTimeoutMs: 60_000,
  retry: Object.freeze({ baseMs: 1_000, capMs: 60_000, maxAttempts: 5, jitter: 'full' }) as RetryOptions,
});

/**
 * The default prefetch of a worker with this `limit`: `limit` running plus `max(limit, 64)` waiting, capped
 * at 65535. The next tasks are then already in the worker when slots free up (a worker with prefetch 1
 * waits a round trip to the broker for every task), while what one worker keeps from the others stays
 * bounded: about one more batch of `limit`, or 64 for small limits.
 */
export function defaultPrefetch(limit: number): number {
  const { minPrefetchAhead, maxPrefetch } = DEFAULT_WORKER_OPTIONS;
  return Math.min(maxPrefetch, limit + Math.max(limit, minPrefetchAhead));
}
