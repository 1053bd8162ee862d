/**
 * The contract every retry policy implements.
 *
 * Policies are stateless: everything they need arrives in a {@link RetryContext}. That lets callers persist
 * the context next to the message (a store-and-forward record, AMQP headers) and resume the same schedule
 * after a restart, and it keeps one policy instance safely shared by many deliveries.
 */

/** A source of uniformly distributed numbers in `[0, 1)`, injectable so jitter is deterministic in tests. */
export type RandomSource = () => number;

/** A wall clock returning epoch milliseconds, injectable so time-based decisions are deterministic. */
export type Clock = () => number;

/** The random source used when none is injected. */
export const defaultRandom: RandomSource = () => Math.random();

/** The clock used when none is injected. */
export const defaultClock: Clock = () => Date.now();

/** What a policy knows about a delivery when an attempt has failed. */
export interface RetryContext {
  /**
   * Attempts already made, counting the one that just failed: `1` after the first failure. A policy's
   * `maxAttempts` counts the same way (it includes the first attempt).
   */
  readonly attempt: number;
  /** When the first attempt started, in epoch milliseconds; `maxAgeMs` is measured from here. */
  readonly firstAttemptAt: number;
  /** The current time in epoch milliseconds. */
  readonly now: number;
  /**
   * The delay, in milliseconds, that the previous `retry` decision returned (and the caller waited). Only
   * decorrelated jitter reads it; omit it before the first retry.
   */
  readonly previousDelayMs?: number;
  /** The server's requested wait in milliseconds (an already parsed `Retry-After`), if it sent one. */
  readonly retryAfterMs?: number;
}

/**
 * Why a policy stopped retrying: `max-attempts` when the attempt budget (`maxAttempts`, or the end of a
 * fixed schedule) is spent; `max-age` when the next attempt would start after `firstAttemptAt + maxAgeMs`.
 */
export type GiveUpReason = 'max-attempts' | 'max-age';

/** A policy's answer: wait `delayMs` milliseconds and try again, or stop. */
export type RetryDecision =
  | { readonly action: 'retry'; readonly delayMs: number }
  | { readonly action: 'give-up'; readonly reason: GiveUpReason };

/** Decides, after a failed attempt, whether and when to try again. Must not mutate `ctx`. */
export interface RetryPolicy {
  next(ctx: RetryContext): RetryDecision;
}
