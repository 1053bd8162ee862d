import { thrown } from '@dispatcher/tooling';
import { describe, expect, it } from 'vitest';
import { DEFAULT_QUADRATIC_SCHEDULE, quadraticSchedule } from './quadratic-schedule.js';
import type { RetryContext } from './retry-policy.js';

const ctx = (attempt: number, extra: Partial<RetryContext> = {}): RetryContext => ({
  attempt,
  firstAttemptAt: 0,
  now: 0,
  ...extra,
});

describe('quadraticSchedule', () => {
  it('waits attempt² × 10 s by default', () => {
    expect(DEFAULT_QUADRATIC_SCHEDULE).toMatchObject({ coefficientMs: 10_000, maxAttempts: 10 });
    const p = quadraticSchedule();
    const delays = [1, 2, 3, 4, 9].map((n) => p.next(ctx(n)));
    expect(delays).toEqual([
      { action: 'retry', delayMs: 10_000 },
      { action: 'retry', delayMs: 40_000 },
      { action: 'retry', delayMs: 90_000 },
      { action: 'retry', delayMs: 160_000 },
      { action: 'retry', delayMs: 810_000 },
    ]);
    expect(p.next(ctx(10))).toEqual({ action: 'give-up', reason: 'max-attempts' });
  });

  it('uses a custom coefficient and attempt budget', () => {
    const p = quadraticSchedule({ coefficientMs: 500, maxAttempts: 4 });
    expect(p.next(ctx(3))).toEqual({ action: 'retry', delayMs: 4_500 });
    expect(p.next(ctx(4))).toEqual({ action: 'give-up', reason: 'max-attempts' });
  });

  it('applies maxAgeMs and Retry-After', () => {
    const p = quadraticSchedule({ coefficientMs: 1_000, maxAgeMs: 10_000 });
    expect(p.next(ctx(2, { retryAfterMs: 6_000 }))).toEqual({ action: 'retry', delayMs: 6_000 });
    expect(p.next(ctx(4))).toEqual({ action: 'give-up', reason: 'max-age' });
  });

  it.each([0, -1, 2.5, Number.NaN])('rejects coefficientMs %s', (coefficientMs) => {
    const error = thrown(() => quadraticSchedule({ coefficientMs }));
    expect(error.code).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(error.message).toContain('coefficientMs');
  });
});
