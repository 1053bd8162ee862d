import { describe, expect, it } from 'vitest';
import { DEFAULT_LEGACY_DISPATCHER_BACKOFF, legacyDispatcherBackoff } from './legacy-dispatcher-backoff.js';
import type { RetryContext } from './retry-policy.js';

const ctx = (attempt: number, extra: Partial<RetryContext> = {}): RetryContext => ({
  attempt,
  firstAttemptAt: 0,
  now: 0,
  ...extra,
});

describe('legacyDispatcherBackoff', () => {
  it('waits 2^n seconds after attempt n, for RETRYLIMIT=10 retries', () => {
    expect(DEFAULT_LEGACY_DISPATCHER_BACKOFF).toMatchObject({ maxAttempts: 11, capMs: 1_024_000 });
    const p = legacyDispatcherBackoff();
    const delays = Array.from({ length: 10 }, (_, i) => p.next(ctx(i + 1)));
    expect(delays.map((d) => (d.action === 'retry' ? d.delayMs : d.reason))).toEqual([
      2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 1_024_000,
    ]);
    expect(p.next(ctx(11))).toEqual({ action: 'give-up', reason: 'max-attempts' });
  });

  it('holds at capMs when maxAttempts is raised', () => {
    const p = legacyDispatcherBackoff({ maxAttempts: 20 });
    expect(p.next(ctx(15))).toEqual({ action: 'retry', delayMs: 1_024_000 });
    const uncapped = legacyDispatcherBackoff({ maxAttempts: 20, capMs: 10_000_000 });
    expect(uncapped.next(ctx(12))).toEqual({ action: 'retry', delayMs: 4_096_000 });
  });

  it('passes maxAgeMs and maxRetryAfterMs through', () => {
    const p = legacyDispatcherBackoff({ maxAgeMs: 10_000, maxRetryAfterMs: 5_000 });
    expect(p.next(ctx(1, { retryAfterMs: 60_000 }))).toEqual({ action: 'retry', delayMs: 5_000 });
    expect(p.next(ctx(4))).toEqual({ action: 'give-up', reason: 'max-age' });
  });

  it('validates its options', () => {
    expect(() => legacyDispatcherBackoff({ capMs: 1_000 })).toThrow(/capMs/);
    expect(() => legacyDispatcherBackoff({ maxAttempts: 0 })).toThrow(/maxAttempts/);
  });
});
