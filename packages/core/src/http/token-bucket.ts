/**
 * Token bucket rate limiter with continuous refill: `ratePerSec` tokens per second accrue smoothly up to
 * `burst`, and each attempt takes one. Used to cap the request rate per destination.
 *
 * Pure and synchronous: time comes only from the injected clock.
 */
import { CoreError } from '../errors.js';

/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Sustained rate, in tokens per second. `<= 0` or `Infinity` means unlimited. Required: no default. */
  ratePerSec: number;
  /**
   * Bucket capacity, in tokens: how many attempts may go at once after an idle period. The bucket starts
   * full. At least 1 when the rate is limited.
   * @defaultValue 1
   */
  burst?: number;
  /**
   * Current time, in milliseconds (any monotonic origin).
   * @defaultValue performance.now
   */
  clock?: () => number;
}

// Refill arithmetic is floating point; without slack, waiting exactly msUntilNext() could leave
// 0.9999999999 tokens and the caller would spin.
const EPSILON = 1e-9;

/** Continuous-refill token bucket. */
export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #clock: () => number;
  readonly #unlimited: boolean;
  #tokens: number;
  #last: number;

  /**
   * @throws CoreError `DSP_CORE_INVALID_ARGUMENT` for a NaN rate, or a burst below 1 or not finite when the
   *   rate is limited
   */
  constructor(options: TokenBucketOptions) {
    const { ratePerSec, burst = 1 } = options;
    if (Number.isNaN(ratePerSec))
      throw new CoreError('DSP_CORE_INVALID_ARGUMENT', 'ratePerSec must be a number');
    this.#unlimited = ratePerSec <= 0 || ratePerSec === Number.POSITIVE_INFINITY;
    if (!this.#unlimited && (!Number.isFinite(burst) || burst < 1)) {
      throw new CoreError('DSP_CORE_INVALID_ARGUMENT', `burst must be a finite number >= 1; got ${burst}`);
    }
    this.#ratePerMs = ratePerSec / 1000;
    this.#burst = burst;
    this.#clock = options.clock ?? (() => performance.now());
    this.#tokens = burst;
    this.#last = this.#clock();
  }

  /** Whether the rate is unlimited (every take succeeds). */
  get unlimited(): boolean {
    return this.#unlimited;
  }

  /** Tokens available now (fractional while refilling); `Infinity` when unlimited. */
  available(): number {
    if (this.#unlimited) return Number.POSITIVE_INFINITY;
    this.#refill();
    return this.#tokens;
  }

  /** Takes one token if one is available. */
  tryTake(): boolean {
    if (this.#unlimited) return true;
    this.#refill();
    if (this.#tokens < 1 - EPSILON) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }

  /** Milliseconds until a token is available (0 when one is now), rounded up to a whole millisecond. */
  msUntilNext(): number {
    if (this.#unlimited) return 0;
    this.#refill();
    if (this.#tokens >= 1 - EPSILON) return 0;
    return Math.ceil((1 - this.#tokens) / this.#ratePerMs);
  }

  #refill(): void {
    const now = this.#clock();
    // A clock that steps back must not mint tokens (or take them away); just restart from here.
    const elapsed = Math.max(0, now - this.#last);
    this.#last = now;
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#ratePerMs);
  }
}
