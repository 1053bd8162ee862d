import {
  exponentialBackoff,
  quadraticSchedule,
  type RetryDecision,
  type RetryPolicy,
} from '@dispatcher/core';
import type { RetrySchedule } from '../subscriptions/subscription.js';

/** The core retry policy for a subscription's schedule (attempt n fails → legacy n² × coefficient, or exponential with full jitter). */
export function retryPolicyFor(schedule: RetrySchedule): RetryPolicy {
  const maxAttempts = schedule.maxRetries + 1;
  if (schedule.kind === 'legacy')
    return quadraticSchedule({
      coefficientMs: Math.max(1, Math.round(schedule.coefficientSec * 1000)),
      maxAttempts,
      maxAgeMs: Number.POSITIVE_INFINITY,
    });
  return exponentialBackoff({
    baseMs: Math.max(1, schedule.baseDelayMs),
    capMs: Math.max(1, schedule.maxDelayMs, schedule.baseDelayMs),
    jitter: 'full',
    maxAttempts,
    maxAgeMs: Number.POSITIVE_INFINITY,
  });
}

/** Decision after the attempt with `retryTimes` earlier retries failed. */
export function nextRetry(
  schedule: RetrySchedule,
  retryTimes: number,
  retryAfterMs: number | undefined,
): RetryDecision {
  const now = Date.now();
  return retryPolicyFor(schedule).next({
    attempt: retryTimes + 1,
    firstAttemptAt: now,
    now,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}
