import { describe, expect, it } from 'vitest';
import { TasksError } from '../errors.js';
import { RateLimiter } from './rate-limiter.js';

describe('RateLimiter', () => {
  it('allows a burst of max, then one token per interval/max', () => {
    const limiter = new RateLimiter({ max: 2, intervalMs: 100 }, 0);
    expect(limiter.tryTake(0)).toBe(true);
    expect(limiter.tryTake(0)).toBe(true);
    expect(limiter.tryTake(0)).toBe(false);
    expect(limiter.msUntilNext(0)).toBe(50);
    expect(limiter.tryTake(49)).toBe(false);
    expect(limiter.tryTake(50)).toBe(true);
    // Idle time refills up to max only.
    expect(limiter.tryTake(10_000)).toBe(true);
    expect(limiter.tryTake(10_000)).toBe(true);
    expect(limiter.tryTake(10_000)).toBe(false);
  });

  it('rejects nonsense limits', () => {
    expect(() => new RateLimiter({ max: 0, intervalMs: 1 })).toThrow(TasksError);
    expect(() => new RateLimiter({ max: 1, intervalMs: 0 })).toThrow(TasksError);
  });
});
