import { thrown } from '@dispatcher/tooling';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EXPONENTIAL_BACKOFF,
  type ExponentialBackoffOptions,
  exponentialBackoff,
} from './exponential-backoff.js';
import type { RetryContext, RetryDecision } from './retry-policy.js';

const ctx = (attempt: number, extra: Partial<RetryContext> = {}): RetryContext => ({
  attempt,
  firstAttemptAt: 0,
  now: 0,
  ...extra,
});

const fixedRandom = (value: number) => () => value;

function delayOf(decision: RetryDecision): number {
  if (decision.action !== 'retry') throw new Error(`expected retry, got give-up (${decision.reason})`);
  return decision.delayMs;
}

const uniform = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe('exponentialBackoff', () => {
  it('uses the documented defaults', () => {
    expect(DEFAULT_EXPONENTIAL_BACKOFF).toMatchObject({
      baseMs: 1_000,
      capMs: 300_000,
      factor: 2,
      jitter: 'full',
      maxAttempts: 10,
      maxAgeMs: Number.POSITIVE_INFINITY,
      maxRetryAfterMs: 3_600_000,
    });
    const policy = exponentialBackoff({ random: fixedRandom(0.5) });
    // full jitter: 0.5 × 1000 × 2^(3-1)
    expect(policy.next(ctx(3))).toEqual({ action: 'retry', delayMs: 2_000 });
    expect(policy.next(ctx(9)).action).toBe('retry');
    expect(policy.next(ctx(10))).toEqual({ action: 'give-up', reason: 'max-attempts' });
  });

  it('falls back to Math.random when no source is injected', () => {
    const policy = exponentialBackoff({ baseMs: 100, capMs: 100 });
    for (let i = 0; i < 50; i++) {
      const d = delayOf(policy.next(ctx(1)));
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(100);
    }
  });

  describe("jitter 'none'", () => {
    const policy = exponentialBackoff({
      baseMs: 100,
      capMs: 1_000,
      jitter: 'none',
      maxAttempts: Number.POSITIVE_INFINITY,
    });

    it('grows by factor per attempt and stops at capMs', () => {
      const delays = [1, 2, 3, 4, 5, 6].map((n) => delayOf(policy.next(ctx(n))));
      expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    });

    it('stays at capMs when factor^n overflows', () => {
      expect(delayOf(policy.next(ctx(5_000)))).toBe(1_000);
    });

    it('rounds fractional delays from a fractional factor to whole milliseconds', () => {
      const p = exponentialBackoff({ baseMs: 100, capMs: 10_000, factor: 1.5, jitter: 'none' });
      expect([1, 2, 3, 4].map((n) => delayOf(p.next(ctx(n))))).toEqual([100, 150, 225, 338]);
    });

    it('keeps a constant delay with factor 1', () => {
      const p = exponentialBackoff({ baseMs: 250, capMs: 10_000, factor: 1, jitter: 'none' });
      expect([1, 5, 9].map((n) => delayOf(p.next(ctx(n))))).toEqual([250, 250, 250]);
    });

    it('never calls the random source', () => {
      let calls = 0;
      const p = exponentialBackoff({
        jitter: 'none',
        random: () => {
          calls++;
          return 0.5;
        },
      });
      p.next(ctx(1));
      expect(calls).toBe(0);
    });
  });

  describe("jitter 'full'", () => {
    it('scales the capped delay by the random draw', () => {
      const opts: ExponentialBackoffOptions = { baseMs: 100, capMs: 1_000, jitter: 'full' };
      expect(delayOf(exponentialBackoff({ ...opts, random: fixedRandom(0) }).next(ctx(3)))).toBe(0);
      expect(delayOf(exponentialBackoff({ ...opts, random: fixedRandom(0.25) }).next(ctx(3)))).toBe(100);
      expect(delayOf(exponentialBackoff({ ...opts, random: fixedRandom(0.5) }).next(ctx(9)))).toBe(500);
    });

    it('stays within [0, min(cap, base × factor^(n-1))]', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 10_000 }),
          fc.integer({ min: 0, max: 1_000_000 }),
          fc.double({ min: 1, max: 4, noNaN: true }),
          fc.integer({ min: 1, max: 200 }),
          uniform,
          (baseMs, extra, factor, attempt, r) => {
            const capMs = baseMs + extra;
            const p = exponentialBackoff({
              baseMs,
              capMs,
              factor,
              jitter: 'full',
              maxAttempts: 1_000,
              random: () => r,
            });
            const d = delayOf(p.next(ctx(attempt)));
            const ceiling = Math.min(capMs, baseMs * factor ** (attempt - 1));
            expect(Number.isInteger(d)).toBe(true);
            expect(d).toBeGreaterThanOrEqual(0);
            expect(d).toBeLessThanOrEqual(Math.round(ceiling));
          },
        ),
      );
    });
  });

  describe("jitter 'equal'", () => {
    it('keeps half the delay and randomises the other half', () => {
      const opts: ExponentialBackoffOptions = { baseMs: 100, capMs: 1_000, jitter: 'equal' };
      expect(delayOf(exponentialBackoff({ ...opts, random: fixedRandom(0) }).next(ctx(3)))).toBe(200);
      expect(delayOf(exponentialBackoff({ ...opts, random: fixedRandom(0.5) }).next(ctx(3)))).toBe(300);
      expect(delayOf(exponentialBackoff({ ...opts, random: fixedRandom(0.999) }).next(ctx(9)))).toBe(1_000);
    });

    it('stays within [d/2, d]', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 10_000 }),
          fc.integer({ min: 0, max: 1_000_000 }),
          fc.integer({ min: 1, max: 100 }),
          uniform,
          (baseMs, extra, attempt, r) => {
            const capMs = baseMs + extra;
            const p = exponentialBackoff({
              baseMs,
              capMs,
              jitter: 'equal',
              maxAttempts: 1_000,
              random: () => r,
            });
            const d = delayOf(p.next(ctx(attempt)));
            const ceiling = Math.min(capMs, baseMs * 2 ** (attempt - 1));
            expect(d).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
            expect(d).toBeLessThanOrEqual(ceiling);
          },
        ),
      );
    });
  });

  describe("jitter 'decorrelated'", () => {
    const opts: ExponentialBackoffOptions = { baseMs: 100, capMs: 10_000, jitter: 'decorrelated' };

    it('draws from [base, 3 × base] before any previous delay', () => {
      expect(delayOf(exponentialBackoff({ ...opts, random: fixedRandom(0) }).next(ctx(1)))).toBe(100);
      expect(delayOf(exponentialBackoff({ ...opts, random: fixedRandom(0.5) }).next(ctx(1)))).toBe(200);
    });

    it('draws from [base, 3 × previous] and ignores the attempt number', () => {
      const p = exponentialBackoff({ ...opts, random: fixedRandom(0.5) });
      // 100 + 0.5 × (3000 - 100)
      expect(delayOf(p.next(ctx(2, { previousDelayMs: 1_000 })))).toBe(1_550);
      expect(delayOf(p.next(ctx(7, { previousDelayMs: 1_000 })))).toBe(1_550);
    });

    it('caps at capMs', () => {
      const p = exponentialBackoff({ ...opts, random: fixedRandom(0.99) });
      expect(delayOf(p.next(ctx(4, { previousDelayMs: 9_000 })))).toBe(10_000);
    });

    it('does not go below base after a tiny previous delay', () => {
      const p = exponentialBackoff({ ...opts, random: fixedRandom(0.9) });
      expect(delayOf(p.next(ctx(2, { previousDelayMs: 0 })))).toBe(100);
      expect(delayOf(p.next(ctx(2, { previousDelayMs: 10 })))).toBe(100);
    });

    it('stays within [base, min(cap, max(base, 3 × previous))]', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 10_000 }),
          fc.integer({ min: 0, max: 1_000_000 }),
          fc.integer({ min: 0, max: 5_000_000 }),
          uniform,
          (baseMs, extra, previousDelayMs, r) => {
            const capMs = baseMs + extra;
            const p = exponentialBackoff({ baseMs, capMs, jitter: 'decorrelated', random: () => r });
            const d = delayOf(p.next(ctx(2, { previousDelayMs })));
            expect(d).toBeGreaterThanOrEqual(baseMs);
            expect(d).toBeLessThanOrEqual(Math.min(capMs, Math.max(baseMs, previousDelayMs * 3)));
          },
        ),
      );
    });
  });

  describe('maxAttempts', () => {
    it('counts the first attempt', () => {
      const p = exponentialBackoff({ maxAttempts: 3, jitter: 'none' });
      expect(p.next(ctx(1)).action).toBe('retry');
      expect(p.next(ctx(2)).action).toBe('retry');
      expect(p.next(ctx(3))).toEqual({ action: 'give-up', reason: 'max-attempts' });
      expect(p.next(ctx(4))).toEqual({ action: 'give-up', reason: 'max-attempts' });
    });

    it('never retries with maxAttempts 1', () => {
      expect(exponentialBackoff({ maxAttempts: 1 }).next(ctx(1))).toEqual({
        action: 'give-up',
        reason: 'max-attempts',
      });
    });

    it('retries forever with Infinity', () => {
      const p = exponentialBackoff({ maxAttempts: Number.POSITIVE_INFINITY, jitter: 'none', capMs: 5_000 });
      expect(p.next(ctx(1_000_000))).toEqual({ action: 'retry', delayMs: 5_000 });
    });
  });

  describe('maxAgeMs', () => {
    const p = exponentialBackoff({ baseMs: 400, capMs: 400, jitter: 'none', maxAgeMs: 1_000 });

    it('retries while the next attempt starts by firstAttemptAt + maxAgeMs', () => {
      expect(p.next(ctx(1, { firstAttemptAt: 10_000, now: 10_500 }))).toEqual({
        action: 'retry',
        delayMs: 400,
      });
      expect(p.next(ctx(1, { firstAttemptAt: 10_000, now: 10_600 }))).toEqual({
        action: 'retry',
        delayMs: 400,
      });
    });

    it('gives up when the next attempt would start later', () => {
      expect(p.next(ctx(1, { firstAttemptAt: 10_000, now: 10_601 }))).toEqual({
        action: 'give-up',
        reason: 'max-age',
      });
      expect(p.next(ctx(1, { firstAttemptAt: 10_000, now: 50_000 }))).toEqual({
        action: 'give-up',
        reason: 'max-age',
      });
    });

    it('checks maxAttempts before maxAgeMs', () => {
      const q = exponentialBackoff({ maxAttempts: 2, maxAgeMs: 1 });
      expect(q.next(ctx(2, { now: 1_000 }))).toEqual({ action: 'give-up', reason: 'max-attempts' });
    });
  });

  describe('retryAfterMs', () => {
    const p = exponentialBackoff({ baseMs: 100, capMs: 1_000, jitter: 'none' });

    it('waits the server hint when it is longer than the computed delay', () => {
      expect(p.next(ctx(1, { retryAfterMs: 5_000 }))).toEqual({ action: 'retry', delayMs: 5_000 });
    });

    it('keeps the computed delay when the hint is shorter', () => {
      expect(p.next(ctx(3, { retryAfterMs: 50 }))).toEqual({ action: 'retry', delayMs: 400 });
      expect(p.next(ctx(3, { retryAfterMs: 0 }))).toEqual({ action: 'retry', delayMs: 400 });
    });

    it('clamps the hint to maxRetryAfterMs (1 hour by default)', () => {
      expect(p.next(ctx(1, { retryAfterMs: 86_400_000 }))).toEqual({ action: 'retry', delayMs: 3_600_000 });
      const strict = exponentialBackoff({
        baseMs: 100,
        capMs: 1_000,
        jitter: 'none',
        maxRetryAfterMs: 1_000,
      });
      expect(strict.next(ctx(1, { retryAfterMs: 5_000 }))).toEqual({ action: 'retry', delayMs: 1_000 });
    });

    it('ignores hints when maxRetryAfterMs is 0', () => {
      const deaf = exponentialBackoff({ baseMs: 100, capMs: 1_000, jitter: 'none', maxRetryAfterMs: 0 });
      expect(deaf.next(ctx(1, { retryAfterMs: 5_000 }))).toEqual({ action: 'retry', delayMs: 100 });
    });

    it('gives up when the hint pushes the next attempt past maxAgeMs', () => {
      const aged = exponentialBackoff({ baseMs: 100, capMs: 1_000, jitter: 'none', maxAgeMs: 60_000 });
      expect(aged.next(ctx(1, { retryAfterMs: 59_000 }))).toEqual({ action: 'retry', delayMs: 59_000 });
      expect(aged.next(ctx(1, { retryAfterMs: 61_000 }))).toEqual({ action: 'give-up', reason: 'max-age' });
    });
  });

  describe('option validation', () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['baseMs', { baseMs: 0 }],
      ['baseMs', { baseMs: -5 }],
      ['baseMs', { baseMs: 1.5 }],
      ['baseMs', { baseMs: Number.NaN }],
      ['baseMs', { baseMs: Number.POSITIVE_INFINITY }],
      ['baseMs', { baseMs: '100' }],
      ['capMs', { baseMs: 1_000, capMs: 999 }],
      ['capMs', { capMs: Number.POSITIVE_INFINITY }],
      ['factor', { factor: 0.5 }],
      ['factor', { factor: Number.NaN }],
      ['jitter', { jitter: 'random' }],
      ['maxAttempts', { maxAttempts: 0 }],
      ['maxAttempts', { maxAttempts: 2.5 }],
      ['maxAgeMs', { maxAgeMs: -1 }],
      ['maxRetryAfterMs', { maxRetryAfterMs: -1 }],
      ['random', { random: 0.5 }],
    ];

    it.each(cases)('rejects a bad %s', (option, options) => {
      const error = thrown(() => exponentialBackoff(options as ExponentialBackoffOptions));
      expect(error.code).toBe('DSP_CORE_INVALID_ARGUMENT');
      expect(error.message).toContain(option);
    });

    it('rejects a random source that leaves [0, 1)', () => {
      for (const bad of [1, -0.1, Number.NaN]) {
        const p = exponentialBackoff({ random: fixedRandom(bad) });
        const error = thrown(() => p.next(ctx(1)));
        expect(error.code).toBe('DSP_CORE_INVALID_ARGUMENT');
        expect(error.message).toContain('random()');
      }
    });
  });
});
