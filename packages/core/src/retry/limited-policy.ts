import { CoreError } from '../errors.js';
import type { ResolvedRetryLimits } from './retry-limits.js';
import type { RetryContext, RetryDecision, RetryPolicy } from './retry-policy.js';

/**
 * Computes the raw delay in milliseconds before the retry that follows attempt `ctx.attempt`, or
 * `undefined` when the schedule has no further entry.
 */
export type DelayFunction = (ctx: RetryContext) => number | undefined;

/**
 * Builds a policy from a delay function plus the limits every policy shares, so `maxAttempts`,
 * `Retry-After` and `maxAgeMs` behave identically whichever schedule is used.
 */
export function limitedPolicy(limits: ResolvedRetryLimits, delayFor: DelayFunction): RetryPolicy {
  const { maxAttempts, maxAgeMs, maxRetryAfterMs } = limits;
  return {
    next(ctx: RetryContext): RetryDecision {
      assertContext(ctx);
      if (ctx.attempt >= maxAttempts) return { action: 'give-up', reason: 'max-attempts' };
      const computed = delayFor(ctx);
      if (computed === undefined) return { action: 'give-up', reason: 'max-attempts' };
      let delayMs = computed;
      if (ctx.retryAfterMs !== undefined) {
        // The server's hint only ever lengthens the wait, and only up to maxRetryAfterMs.
        delayMs = Math.max(delayMs, Math.min(ctx.retryAfterMs, maxRetryAfterMs));
      }
      // Whole milliseconds: timers and persisted due times have no use for fractions.
      delayMs = Math.round(delayMs);
      if (ctx.now + delayMs > ctx.firstAttemptAt + maxAgeMs) return { action: 'give-up', reason: 'max-age' };
      return { action: 'retry', delayMs };
    },
  };
}

// A 0-based attempt counter or a NaN timestamp would silently skew every delay, so fail loudly instead.
function assertContext(ctx: RetryContext): void {
  const problem = contextProblem(ctx);
  if (problem !== undefined) {
    throw new CoreError('DSP_CORE_INVALID_ARGUMENT', `invalid retry context: ${problem}`, {
      details: { ...ctx },
    });
  }
}

function contextProblem(ctx: RetryContext): string | undefined {
  if (!Number.isInteger(ctx.attempt) || ctx.attempt < 1) {
    return `attempt must be an integer >= 1 (attempts already made); got ${ctx.attempt}`;
  }
  if (!Number.isFinite(ctx.firstAttemptAt)) return `firstAttemptAt must be finite; got ${ctx.firstAttemptAt}`;
  if (!Number.isFinite(ctx.now)) return `now must be finite; got ${ctx.now}`;
  if (!isOptionalDuration(ctx.previousDelayMs)) {
    return `previousDelayMs must be a finite number >= 0; got ${ctx.previousDelayMs}`;
  }
  if (!isOptionalDuration(ctx.retryAfterMs)) {
    return `retryAfterMs must be a finite number >= 0; got ${ctx.retryAfterMs}`;
  }
  return undefined;
}

function isOptionalDuration(value: number | undefined): boolean {
  return value === undefined || (Number.isFinite(value) && value >= 0);
}
