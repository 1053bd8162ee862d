import { TasksError } from '../errors.js';
import type { RateLimit } from '../worker-options.js';

/** A token bucket: `max` tokens, refilled continuously at `max / intervalMs`. Starts full. */
export class RateLimiter {
  readonly #max: number;
  readonly #perMs: number;
  #tokens: number;
  #updatedAt: number;

  constructor(limit: RateLimit, now: number = performance.now()) {
    if (!Number.isInteger(limit.max) || limit.max < 1) {
      throw new TasksError(
        'DSP_TASKS_INVALID_ARGUMENT',
        `rateLimit.max must be a whole number >= 1; got ${limit.max}`,
      );
    }
    if (!(limit.intervalMs > 0)) {
      throw new TasksError(
        'DSP_TASKS_INVALID_ARGUMENT',
        `rateLimit.intervalMs must be > 0; got ${limit.intervalMs}`,
      );
    }
    this.#max = limit.max;
    this.#perMs = limit.max / limit.intervalMs;
    this.#tokens = limit.max;
    this.#updatedAt = now;
  }

  /** Takes a token if one is there. */
  tryTake(now: number = performance.now()): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Milliseconds until the next token, 0 if one is there. */
  msUntilNext(now: number = performance.now()): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) / this.#perMs);
  }

  #refill(now: number): void {
    this.#tokens = Math.min(this.#max, this.#tokens + (now - this.#updatedAt) * this.#perMs);
    this.#updatedAt = now;
  }
}
