import { exponentialBackoff } from './exponential-backoff.js';
import { DEFAULT_RETRY_LIMITS, type RetryLimits } from './retry-limits.js';
import type { RetryPolicy } from './retry-policy.js';

/** Options of {@link legacyDispatcherBackoff}. */
export interface LegacyDispatcherBackoffOptions extends RetryLimits {
  /**
   * Total attempts allowed, counting the first one; whole number >= 1 or `Infinity`. The default is the
   * original's `RETRYLIMIT=10` retries plus the initial attempt.
   * @defaultValue `11`
   */
  readonly maxAttempts?: number;
  /**
   * Ceiling on the delay, in milliseconds; whole number >= 2_000. The default is the longest wait the
   * original reaches with its default limit (2^10 s), so raising `maxAttempts` repeats it rather than
   * growing into waits of days.
   * @defaultValue `1_024_000`
   */
  readonly capMs?: number;
}

/** Defaults for {@link LegacyDispatcherBackoffOptions}. */
export const DEFAULT_LEGACY_DISPATCHER_BACKOFF: Readonly<Required<LegacyDispatcherBackoffOptions>> =
  Object.freeze({
    ...DEFAULT_RETRY_LIMITS,
    maxAttempts: 11,
    capMs: 1_024_000,
  });

/**
 * The original Go HTTP Dispatcher's schedule: after attempt `n` fails, wait `2^n` seconds (2 s, 4 s, 8 s,
 * …, 1024 s), with no jitter.
 */
export function legacyDispatcherBackoff(options: LegacyDispatcherBackoffOptions = {}): RetryPolicy {
  // 2^n s = 2_000 ms × 2^(n - 1), i.e. exponential backoff with a 2-second base.
  return exponentialBackoff({
    baseMs: 2_000,
    factor: 2,
    jitter: 'none',
    capMs: options.capMs ?? DEFAULT_LEGACY_DISPATCHER_BACKOFF.capMs,
    maxAttempts: options.maxAttempts ?? DEFAULT_LEGACY_DISPATCHER_BACKOFF.maxAttempts,
    maxAgeMs: options.maxAgeMs ?? DEFAULT_LEGACY_DISPATCHER_BACKOFF.maxAgeMs,
    maxRetryAfterMs: options.maxRetryAfterMs ?? DEFAULT_LEGACY_DISPATCHER_BACKOFF.maxRetryAfterMs,
  });
}
