import { CoreError } from '../errors.js';
import { httpRetryClassifier } from './http-retry-classifier.js';
import type { RetryClassifier, RetryOutcome } from './retry-classifier.js';
import {
  type Clock,
  defaultClock,
  type GiveUpReason,
  type RetryContext,
  type RetryPolicy,
} from './retry-policy.js';

/** Options of {@link retryDecider}. */
export interface RetryDeciderOptions {
  /** When to retry a transient failure. Required, so it has no default. */
  readonly policy: RetryPolicy;
  /**
   * Which outcomes are transient.
   * @defaultValue `httpRetryClassifier()`
   */
  readonly classifier?: RetryClassifier;
  /**
   * Supplies `now` when the caller's context omits it.
   * @defaultValue `Date.now`
   */
  readonly clock?: Clock;
  /**
   * What to do with a retryable message once the policy gives up: park it (`'dead-letter'`) or drop it
   * (`'give-up'`). Dead-lettering is the default so that running out of retries never loses a message
   * silently.
   * @defaultValue `'dead-letter'`
   */
  readonly onExhausted?: 'dead-letter' | 'give-up';
}

/** Defaults for the optional {@link RetryDeciderOptions} (`classifier` defaults to `httpRetryClassifier()`). */
export const DEFAULT_RETRY_DECIDER: Readonly<Required<Pick<RetryDeciderOptions, 'clock' | 'onExhausted'>>> =
  Object.freeze({ clock: defaultClock, onExhausted: 'dead-letter' });

/**
 * Why a message stops: `not-retryable` when the classifier said so, otherwise the policy's
 * {@link GiveUpReason}.
 */
export type StopReason = 'not-retryable' | GiveUpReason;

/** The caller's next step for a message. */
export type RetryVerdict =
  | { readonly action: 'success' }
  | { readonly action: 'retry'; readonly delayMs: number }
  | { readonly action: 'dead-letter'; readonly reason: StopReason }
  | { readonly action: 'give-up'; readonly reason: StopReason };

/** A {@link RetryContext} whose `now` may be left to the decider's clock. */
export type DecideContext = Omit<RetryContext, 'now'> & { readonly now?: number };

/** Classifies an outcome and, when it is transient, consults the policy. */
export interface RetryDecider {
  /**
   * @param outcome - the attempt's result; its `retryAfterMs`, when present, overrides `ctx.retryAfterMs`
   * @param ctx - the delivery's retry state, with `attempt` counting the attempt that produced `outcome`
   */
  decide(outcome: RetryOutcome, ctx: DecideContext): RetryVerdict;
}

/** Combines a policy and a classifier into the single `decide(outcome, ctx)` that delivery loops call. */
export function retryDecider(options: RetryDeciderOptions): RetryDecider {
  const { policy } = options;
  if (typeof policy?.next !== 'function') {
    throw new CoreError('DSP_CORE_INVALID_ARGUMENT', 'policy must be a RetryPolicy (an object with next())', {
      details: { option: 'policy' },
    });
  }
  const classifier = options.classifier ?? httpRetryClassifier();
  const clock = options.clock ?? DEFAULT_RETRY_DECIDER.clock;
  const onExhausted = options.onExhausted ?? DEFAULT_RETRY_DECIDER.onExhausted;
  if (onExhausted !== 'dead-letter' && onExhausted !== 'give-up') {
    throw new CoreError(
      'DSP_CORE_INVALID_ARGUMENT',
      `onExhausted must be 'dead-letter' or 'give-up'; got ${String(onExhausted)}`,
      { details: { option: 'onExhausted', value: onExhausted } },
    );
  }

  return {
    decide(outcome: RetryOutcome, ctx: DecideContext): RetryVerdict {
      const classification = classifier(outcome);
      if (classification === 'success') return { action: 'success' };
      if (classification !== 'retry') return { action: classification, reason: 'not-retryable' };
      const retryAfterMs =
        outcome.kind === 'status' ? (outcome.retryAfterMs ?? ctx.retryAfterMs) : ctx.retryAfterMs;
      const decision = policy.next({ ...ctx, now: ctx.now ?? clock(), retryAfterMs });
      if (decision.action === 'retry') return decision;
      return { action: onExhausted, reason: decision.reason };
    },
  };
}
