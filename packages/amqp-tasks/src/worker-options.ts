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
   * Tasks run at the same time, at most; also the prefetch count. Never exceeded, even by timed-out tasks
   * whose functions ignore their signal.
   * @defaultValue `3` (as the Go library)
   */
  limit?: number;
  /**
   * Deliveries the broker may push ahead of acks (`basic.qos` per consumer). The default equals `limit`
   * (fair dispatch, as the Go library); a larger value keeps fast tasks from waiting a round trip for the
   * next message, while `limit` still caps what runs. Deliveries held but not started are requeued on close.
   * @defaultValue `limit`
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
  defaultTimeoutMs: 60_000,
  retry: Object.freeze({ baseMs: 1_000, capMs: 60_000, maxAttempts: 5, jitter: 'full' }) as RetryOptions,
});
