import { thrown } from '@dispatcher/tooling';
import { describe, expect, it } from 'vitest';
import { DEFAULT_FIXED_SCHEDULE, type FixedScheduleOptions, fixedSchedule } from './fixed-schedule.js';
import type { RetryContext } from './retry-policy.js';

const ctx = (attempt: number, extra: Partial<RetryContext> = {}): RetryContext => ({
  attempt,
  firstAttemptAt: 0,
  now: 0,
  ...extra,
});

describe('fixedSchedule', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_FIXED_SCHEDULE).toEqual({
      afterLast: 'give-up',
      maxAttempts: Number.POSITIVE_INFINITY,
      maxAgeMs: Number.POSITIVE_INFINITY,
      maxRetryAfterMs: 3_600_000,
    });
  });

  it('walks the table, entry i after attempt i + 1', () => {
    const p = fixedSchedule({ delaysMs: [1_000, 5_000, 30_000] });
    expect(p.next(ctx(1))).toEqual({ action: 'retry', delayMs: 1_000 });
    expect(p.next(ctx(2))).toEqual({ action: 'retry', delayMs: 5_000 });
    expect(p.next(ctx(3))).toEqual({ action: 'retry', delayMs: 30_000 });
  });

  it("gives up past the end with afterLast 'give-up'", () => {
    const p = fixedSchedule({ delaysMs: [1_000, 5_000, 30_000] });
    expect(p.next(ctx(4))).toEqual({ action: 'give-up', reason: 'max-attempts' });
  });

  it("repeats the last entry with afterLast 'repeat-last'", () => {
    const p = fixedSchedule({ delaysMs: [1_000, 5_000], afterLast: 'repeat-last' });
    expect(p.next(ctx(3))).toEqual({ action: 'retry', delayMs: 5_000 });
    expect(p.next(ctx(500))).toEqual({ action: 'retry', delayMs: 5_000 });
  });

  it('stops a repeating schedule at maxAttempts', () => {
    const p = fixedSchedule({ delaysMs: [1_000], afterLast: 'repeat-last', maxAttempts: 4 });
    expect(p.next(ctx(3))).toEqual({ action: 'retry', delayMs: 1_000 });
    expect(p.next(ctx(4))).toEqual({ action: 'give-up', reason: 'max-attempts' });
  });

  it('lets maxAttempts cut the table short', () => {
    const p = fixedSchedule({ delaysMs: [1, 2, 3, 4], maxAttempts: 2 });
    expect(p.next(ctx(1))).toEqual({ action: 'retry', delayMs: 1 });
    expect(p.next(ctx(2))).toEqual({ action: 'give-up', reason: 'max-attempts' });
  });

  it('stops a repeating schedule at maxAgeMs', () => {
    const p = fixedSchedule({ delaysMs: [10_000], afterLast: 'repeat-last', maxAgeMs: 60_000 });
    expect(p.next(ctx(5, { now: 50_000 }))).toEqual({ action: 'retry', delayMs: 10_000 });
    expect(p.next(ctx(6, { now: 50_001 }))).toEqual({ action: 'give-up', reason: 'max-age' });
  });

  it('honours and clamps Retry-After', () => {
    const p = fixedSchedule({ delaysMs: [1_000], maxRetryAfterMs: 20_000 });
    expect(p.next(ctx(1, { retryAfterMs: 7_000 }))).toEqual({ action: 'retry', delayMs: 7_000 });
    expect(p.next(ctx(1, { retryAfterMs: 90_000 }))).toEqual({ action: 'retry', delayMs: 20_000 });
  });

  it('allows zero delays', () => {
    expect(fixedSchedule({ delaysMs: [0] }).next(ctx(1))).toEqual({ action: 'retry', delayMs: 0 });
  });

  it('copies the table so later mutation has no effect', () => {
    const delaysMs = [1_000, 2_000];
    const p = fixedSchedule({ delaysMs });
    delaysMs[0] = 99;
    expect(p.next(ctx(1))).toEqual({ action: 'retry', delayMs: 1_000 });
  });

  const invalid: Array<[string, unknown]> = [
    ['delaysMs', { delaysMs: [] }],
    ['delaysMs', { delaysMs: undefined }],
    ['delaysMs', { delaysMs: '1000' }],
    ['delaysMs[1]', { delaysMs: [1_000, -1] }],
    ['delaysMs[0]', { delaysMs: [1.5] }],
    ['delaysMs[0]', { delaysMs: [Number.POSITIVE_INFINITY] }],
    ['afterLast', { delaysMs: [1], afterLast: 'loop' }],
    ['maxAttempts', { delaysMs: [1], maxAttempts: 0 }],
  ];

  it.each(invalid)('rejects a bad %s', (option, options) => {
    const error = thrown(() => fixedSchedule(options as FixedScheduleOptions));
    expect(error.code).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(error.message).toContain(option);
  });
});
