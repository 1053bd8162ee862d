import { limitedPolicy } from './limited-policy.js';
import { requireNumber } from './require-number.js';
import { DEFAULT_RETRY_LIMITS, type RetryLimits, resolveRetryLimits } from './retry-limits.js';
import type { RetryPolicy } from './retry-policy.js';

/** Options of {@link quadraticSchedule}. */
export interface QuadraticScheduleOptions extends RetryLimits {
  /**
   * Milliseconds multiplied by `attempt²`; whole number >= 1. The default reproduces medispatcher's
   * 10-second coefficient: waits of 10 s, 40 s, 90 s, 160 s, …
   * @defaultValue `10_000`
   */
  readonly coefficientMs?: number;
  /**
   * Total attempts allowed, counting the first one; whole number >= 1 or `Infinity`.
   * @defaultValue `10`
   */
  readonly maxAttempts?: number;
}

/** Defaults for {@link QuadraticScheduleOptions}. */
export const DEFAULT_QUADRATIC_SCHEDULE: Readonly<Required<QuadraticScheduleOptions>> = Object.freeze({
  ...DEFAULT_RETRY_LIMITS,
  coefficientMs: 10_000,
  maxAttempts: 10,
});

/**
 * medispatcher's schedule: after attempt `n` fails, wait `n² × coefficientMs` (n is the context's
 * `attempt`, so the first retry waits exactly `coefficientMs`). Grows slower than exponential backoff and
 * has no cap besides the attempt budget.
 */
export function quadraticSchedule(options: QuadraticScheduleOptions = {}): RetryPolicy {
  const limits = resolveRetryLimits(options, DEFAULT_QUADRATIC_SCHEDULE.maxAttempts);
  const coefficientMs = requireNumber(
    'coefficientMs',
    options.coefficientMs ?? DEFAULT_QUADRATIC_SCHEDULE.coefficientMs,
    { min: 1, integer: true },
  );
  return limitedPolicy(limits, (ctx) => ctx.attempt * ctx.attempt * coefficientMs);
}
