import { CoreError } from '../errors.js';
import { limitedPolicy } from './limited-policy.js';
import { requireNumber } from './require-number.js';
import { DEFAULT_RETRY_LIMITS, type RetryLimits, resolveRetryLimits } from './retry-limits.js';
import type { RetryPolicy } from './retry-policy.js';

/** Options of {@link fixedSchedule}. */
export interface FixedScheduleOptions extends RetryLimits {
  /**
   * Delays in milliseconds: entry `i` is the wait after attempt `i + 1` failed (so `delaysMs[0]` follows the
   * first failure). Non-empty; whole numbers >= 0. Required, so it has no default.
   */
  readonly delaysMs: readonly number[];
  /**
   * What happens once the table is used up: `'give-up'` stops with reason `max-attempts` (so the table
   * allows `delaysMs.length + 1` attempts), `'repeat-last'` keeps waiting the last delay until
   * `maxAttempts` or `maxAgeMs` stops it.
   * @defaultValue `'give-up'`
   */
  readonly afterLast?: 'give-up' | 'repeat-last';
  /**
   * Total attempts allowed, counting the first one; whole number >= 1 or `Infinity`. With the default the
   * table length (or `maxAgeMs`) is the only bound.
   * @defaultValue `Infinity`
   */
  readonly maxAttempts?: number;
}

/** Defaults for the optional {@link FixedScheduleOptions}. */
export const DEFAULT_FIXED_SCHEDULE: Readonly<Required<Omit<FixedScheduleOptions, 'delaysMs'>>> =
  Object.freeze({
    ...DEFAULT_RETRY_LIMITS,
    afterLast: 'give-up',
    maxAttempts: Number.POSITIVE_INFINITY,
  });

/** A fixed table of delays, e.g. `[1_000, 5_000, 30_000]`; no jitter. */
export function fixedSchedule(options: FixedScheduleOptions): RetryPolicy {
  const limits = resolveRetryLimits(options, DEFAULT_FIXED_SCHEDULE.maxAttempts);
  const raw: unknown = options.delaysMs;
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new CoreError('DSP_CORE_INVALID_ARGUMENT', 'delaysMs must be a non-empty array of milliseconds', {
      details: { option: 'delaysMs', value: raw },
    });
  }
  // Copied so a caller mutating its array later cannot change a live policy.
  const delaysMs = raw.map((value: unknown, i) =>
    requireNumber(`delaysMs[${i}]`, value, { min: 0, integer: true }),
  );
  const afterLast = options.afterLast ?? DEFAULT_FIXED_SCHEDULE.afterLast;
  if (afterLast !== 'give-up' && afterLast !== 'repeat-last') {
    throw new CoreError(
      'DSP_CORE_INVALID_ARGUMENT',
      `afterLast must be 'give-up' or 'repeat-last'; got ${String(afterLast)}`,
      { details: { option: 'afterLast', value: afterLast } },
    );
  }
  const lastMs = delaysMs[delaysMs.length - 1]!;
  return limitedPolicy(limits, (ctx) => {
    const entry = delaysMs[ctx.attempt - 1];
    if (entry !== undefined) return entry;
    return afterLast === 'repeat-last' ? lastMs : undefined;
  });
}
