import { thrown } from '@dispatcher/tooling';
import { describe, expect, it } from 'vitest';
import { limitedPolicy } from './limited-policy.js';
import type { RetryContext } from './retry-policy.js';

const limits = { maxAttempts: 5, maxAgeMs: Number.POSITIVE_INFINITY, maxRetryAfterMs: 10_000 };

describe('limitedPolicy', () => {
  it('rounds the final delay to whole milliseconds', () => {
    const p = limitedPolicy(limits, () => 10.5);
    expect(p.next({ attempt: 1, firstAttemptAt: 0, now: 0 })).toEqual({ action: 'retry', delayMs: 11 });
  });

  it('treats an exhausted schedule as max-attempts', () => {
    const p = limitedPolicy(limits, () => undefined);
    expect(p.next({ attempt: 1, firstAttemptAt: 0, now: 0 })).toEqual({
      action: 'give-up',
      reason: 'max-attempts',
    });
  });

  it('does not consult the schedule once attempts are spent', () => {
    let calls = 0;
    const p = limitedPolicy(limits, () => {
      calls++;
      return 1;
    });
    p.next({ attempt: 5, firstAttemptAt: 0, now: 0 });
    expect(calls).toBe(0);
  });

  const badContexts: Array<[string, RetryContext]> = [
    ['attempt', { attempt: 0, firstAttemptAt: 0, now: 0 }],
    ['attempt', { attempt: 1.5, firstAttemptAt: 0, now: 0 }],
    ['attempt', { attempt: Number.NaN, firstAttemptAt: 0, now: 0 }],
    ['firstAttemptAt', { attempt: 1, firstAttemptAt: Number.NaN, now: 0 }],
    ['now', { attempt: 1, firstAttemptAt: 0, now: Number.POSITIVE_INFINITY }],
    ['previousDelayMs', { attempt: 1, firstAttemptAt: 0, now: 0, previousDelayMs: -1 }],
    ['retryAfterMs', { attempt: 1, firstAttemptAt: 0, now: 0, retryAfterMs: Number.NaN }],
    ['retryAfterMs', { attempt: 1, firstAttemptAt: 0, now: 0, retryAfterMs: Number.POSITIVE_INFINITY }],
  ];

  it.each(badContexts)('rejects a context with a bad %s', (field, ctx) => {
    const error = thrown(() => limitedPolicy(limits, () => 1).next(ctx));
    expect(error.code).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(error.message).toContain(field);
  });
});
