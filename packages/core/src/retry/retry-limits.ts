import { requireNumber } from './require-number.js';

/** Limits every policy in this module accepts besides its own `maxAttempts`. */
export interface RetryLimits {
  /**
   * Longest time, in milliseconds from `firstAttemptAt`, that retries may go on: the policy gives up
   * (`max-age`) when the next attempt would start later than `firstAttemptAt + maxAgeMs`.
   * `Infinity` means no age limit.
   * @defaultValue `Infinity`
   */
  readonly maxAgeMs?: number;
  /**
   * Largest server `Retry-After` hint, in milliseconds, the policy will honour; longer hints are clamped to
   * it. This is deliberately separate from an exponential policy's `capMs`: `capMs` bounds our own guess,
   * while a server's explicit hint is more authoritative (retrying earlier just earns another 429/503).
   * Set it equal to `capMs` to make `capMs` a hard ceiling.
   * @defaultValue `3_600_000` (1 hour)
   */
  readonly maxRetryAfterMs?: number;
}

/** Defaults for {@link RetryLimits}. */
export const DEFAULT_RETRY_LIMITS: Readonly<Required<RetryLimits>> = Object.freeze({
  maxAgeMs: Number.POSITIVE_INFINITY,
  maxRetryAfterMs: 3_600_000,
});

/** Validated limits, including the policy's attempt budget. */
export interface ResolvedRetryLimits {
  readonly maxAttempts: number;
  readonly maxAgeMs: number;
  readonly maxRetryAfterMs: number;
}

/** Applies defaults to the shared limits and validates them (throws `DSP_CORE_INVALID_ARGUMENT`). */
export function resolveRetryLimits(
  options: RetryLimits & { readonly maxAttempts?: number },
  defaultMaxAttempts: number,
): ResolvedRetryLimits {
  const integerOrInfinity = { integer: true, allowInfinity: true } as const;
  return {
    maxAttempts: requireNumber('maxAttempts', options.maxAttempts ?? defaultMaxAttempts, {
      min: 1,
      ...integerOrInfinity,
    }),
    maxAgeMs: requireNumber('maxAgeMs', options.maxAgeMs ?? DEFAULT_RETRY_LIMITS.maxAgeMs, {
      min: 0,
      ...integerOrInfinity,
    }),
    maxRetryAfterMs: requireNumber(
      'maxRetryAfterMs',
      options.maxRetryAfterMs ?? DEFAULT_RETRY_LIMITS.maxRetryAfterMs,
      { min: 0, ...integerOrInfinity },
    ),
  };
}
