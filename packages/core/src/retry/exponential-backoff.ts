import { CoreError } from '../errors.js';
import { limitedPolicy } from './limited-policy.js';
import { requireNumber } from './require-number.js';
import { DEFAULT_RETRY_LIMITS, type RetryLimits, resolveRetryLimits } from './retry-limits.js';
import { defaultRandom, type RandomSource, type RetryContext, type RetryPolicy } from './retry-policy.js';

/**
 * How randomness spreads the delays of many clients retrying at once (so they do not stampede together).
 * With `d = min(capMs, baseMs * factor^(attempt - 1))`:
 * - `none`: exactly `d`;
 * - `full`: uniform in `[0, d]`;
 * - `equal`: `d / 2` plus uniform in `[0, d / 2]`;
 * - `decorrelated`: `min(capMs, uniform in [baseMs, previousDelayMs * 3])`, the AWS variant that grows
 *   from the previous delay and ignores `factor`.
 */
export type JitterMode = 'none' | 'full' | 'equal' | 'decorrelated';

const JITTER_MODES: ReadonlySet<string> = new Set<JitterMode>(['none', 'full', 'equal', 'decorrelated']);

/** Options of {@link exponentialBackoff}. */
export interface ExponentialBackoffOptions extends RetryLimits {
  /**
   * Delay before the first retry (before jitter), in milliseconds; whole number >= 1.
   * @defaultValue `1_000`
   */
  readonly baseMs?: number;
  /**
   * Ceiling on the computed delay, in milliseconds; whole number >= `baseMs`. A `Retry-After` hint may
   * exceed it, up to `maxRetryAfterMs`.
   * @defaultValue `300_000` (5 minutes)
   */
  readonly capMs?: number;
  /**
   * Growth per attempt (dimensionless); >= 1. Not used by `decorrelated` jitter.
   * @defaultValue `2`
   */
  readonly factor?: number;
  /**
   * Randomisation applied to each delay; see {@link JitterMode}.
   * @defaultValue `'full'`
   */
  readonly jitter?: JitterMode;
  /**
   * Total attempts allowed, counting the first one (so `1` never retries); whole number >= 1 or `Infinity`.
   * @defaultValue `10`
   */
  readonly maxAttempts?: number;
  /**
   * Uniform source in `[0, 1)` for jitter.
   * @defaultValue `Math.random`
   */
  readonly random?: RandomSource;
}

/** Defaults for {@link ExponentialBackoffOptions}. */
export const DEFAULT_EXPONENTIAL_BACKOFF: Readonly<Required<ExponentialBackoffOptions>> = Object.freeze({
  ...DEFAULT_RETRY_LIMITS,
  baseMs: 1_000,
  capMs: 300_000,
  factor: 2,
  jitter: 'full',
  maxAttempts: 10,
  random: defaultRandom,
});

/** Exponential backoff with optional jitter: `baseMs * factor^(attempt - 1)`, capped at `capMs`. */
export function exponentialBackoff(options: ExponentialBackoffOptions = {}): RetryPolicy {
  const limits = resolveRetryLimits(options, DEFAULT_EXPONENTIAL_BACKOFF.maxAttempts);
  const baseMs = requireNumber('baseMs', options.baseMs ?? DEFAULT_EXPONENTIAL_BACKOFF.baseMs, {
    min: 1,
    integer: true,
  });
  const capMs = requireNumber('capMs', options.capMs ?? DEFAULT_EXPONENTIAL_BACKOFF.capMs, {
    min: baseMs,
    integer: true,
  });
  const factor = requireNumber('factor', options.factor ?? DEFAULT_EXPONENTIAL_BACKOFF.factor, { min: 1 });
  const jitter = options.jitter ?? DEFAULT_EXPONENTIAL_BACKOFF.jitter;
  if (!JITTER_MODES.has(jitter)) {
    throw new CoreError(
      'DSP_CORE_INVALID_ARGUMENT',
      `jitter must be one of ${[...JITTER_MODES].join(', ')}; got ${String(jitter)}`,
      { details: { option: 'jitter', value: jitter } },
    );
  }
  const random = options.random ?? DEFAULT_EXPONENTIAL_BACKOFF.random;
  if (typeof random !== 'function') {
    throw new CoreError(
      'DSP_CORE_INVALID_ARGUMENT',
      'random must be a function returning a number in [0, 1)',
      {
        details: { option: 'random' },
      },
    );
  }

  const draw = (): number => {
    const r = random();
    // A broken source (NaN, 1, negative) would leak straight into timers; reject it rather than clamp it.
    if (!(r >= 0 && r < 1)) {
      throw new CoreError('DSP_CORE_INVALID_ARGUMENT', `random() must return a number in [0, 1); got ${r}`, {
        details: { option: 'random', value: r },
      });
    }
    return r;
  };

  return limitedPolicy(limits, (ctx: RetryContext): number => {
    if (jitter === 'decorrelated') {
      const previousMs = ctx.previousDelayMs ?? baseMs;
      // A tiny previous delay (e.g. a Retry-After of 0) must not shrink the range below baseMs.
      const upperMs = Math.max(baseMs, previousMs * 3);
      return Math.min(capMs, baseMs + draw() * (upperMs - baseMs));
    }
    // factor ** n overflows to Infinity for huge n, which min() turns into capMs.
    const ceilingMs = Math.min(capMs, baseMs * factor ** (ctx.attempt - 1));
    if (jitter === 'full') return draw() * ceilingMs;
    if (jitter === 'equal') return ceilingMs / 2 + (draw() * ceilingMs) / 2;
    return ceilingMs;
  });
}
