import { thrown } from '@dispatcher/tooling';
import { describe, expect, it } from 'vitest';
import { fixedSchedule } from './fixed-schedule.js';
import { httpRetryClassifier } from './http-retry-classifier.js';
import { DEFAULT_RETRY_DECIDER, retryDecider } from './retry-decider.js';
import type { RetryContext, RetryPolicy } from './retry-policy.js';

const policy = fixedSchedule({ delaysMs: [1_000, 2_000], maxAgeMs: 60_000 });
const status = (code: number, retryAfterMs?: number) =>
  ({ kind: 'status', status: code, retryAfterMs }) as const;
const base = { attempt: 1, firstAttemptAt: 0, now: 0 };

function recordingPolicy(): { policy: RetryPolicy; seen: RetryContext[] } {
  const seen: RetryContext[] = [];
  return {
    seen,
    policy: {
      next(ctx) {
        seen.push(ctx);
        return { action: 'retry', delayMs: 42 };
      },
    },
  };
}

describe('retryDecider', () => {
  const decider = retryDecider({ policy });

  it('reports success without consulting the policy', () => {
    const recorder = recordingPolicy();
    expect(retryDecider({ policy: recorder.policy }).decide(status(204), base)).toEqual({
      action: 'success',
    });
    expect(recorder.seen).toEqual([]);
  });

  it('returns the policy delay for a transient failure', () => {
    expect(decider.decide(status(503), base)).toEqual({ action: 'retry', delayMs: 1_000 });
    expect(
      decider.decide({ kind: 'error', error: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }, base),
    ).toEqual({
      action: 'retry',
      delayMs: 1_000,
    });
  });

  it('dead-letters a permanent failure as not-retryable', () => {
    expect(decider.decide(status(400), base)).toEqual({ action: 'dead-letter', reason: 'not-retryable' });
  });

  it("passes a classifier's give-up through", () => {
    const d = retryDecider({ policy, classifier: httpRetryClassifier({ giveUpStatuses: [410] }) });
    expect(d.decide(status(410), base)).toEqual({ action: 'give-up', reason: 'not-retryable' });
  });

  it("dead-letters by default when the policy gives up, keeping the policy's reason", () => {
    expect(DEFAULT_RETRY_DECIDER.onExhausted).toBe('dead-letter');
    expect(decider.decide(status(503), { ...base, attempt: 3 })).toEqual({
      action: 'dead-letter',
      reason: 'max-attempts',
    });
    expect(decider.decide(status(503), { ...base, now: 59_500 })).toEqual({
      action: 'dead-letter',
      reason: 'max-age',
    });
  });

  it("drops instead with onExhausted 'give-up'", () => {
    const d = retryDecider({ policy, onExhausted: 'give-up' });
    expect(d.decide(status(503), { ...base, attempt: 3 })).toEqual({
      action: 'give-up',
      reason: 'max-attempts',
    });
  });

  it("uses the outcome's retryAfterMs over the context's", () => {
    expect(decider.decide(status(429, 9_000), { ...base, retryAfterMs: 4_000 })).toEqual({
      action: 'retry',
      delayMs: 9_000,
    });
    expect(decider.decide(status(429), { ...base, retryAfterMs: 4_000 })).toEqual({
      action: 'retry',
      delayMs: 4_000,
    });
    const error = { kind: 'error', error: new DOMException('t', 'TimeoutError') } as const;
    expect(decider.decide(error, { ...base, retryAfterMs: 4_000 })).toEqual({
      action: 'retry',
      delayMs: 4_000,
    });
  });

  it('fills now from the clock only when the context omits it', () => {
    const recorder = recordingPolicy();
    const d = retryDecider({ policy: recorder.policy, clock: () => 123_456 });
    d.decide(status(500), { attempt: 2, firstAttemptAt: 100, previousDelayMs: 7 });
    d.decide(status(500), { attempt: 2, firstAttemptAt: 100, now: 999 });
    expect(recorder.seen).toEqual([
      { attempt: 2, firstAttemptAt: 100, previousDelayMs: 7, now: 123_456, retryAfterMs: undefined },
      { attempt: 2, firstAttemptAt: 100, now: 999, retryAfterMs: undefined },
    ]);
  });

  it('defaults the clock to Date.now', () => {
    const recorder = recordingPolicy();
    const before = Date.now();
    retryDecider({ policy: recorder.policy }).decide(status(500), { attempt: 1, firstAttemptAt: 0 });
    expect(recorder.seen[0]?.now).toBeGreaterThanOrEqual(before);
    expect(recorder.seen[0]?.now).toBeLessThanOrEqual(Date.now());
  });

  it('rejects bad options', () => {
    expect(thrown(() => retryDecider({} as never)).message).toContain('policy');
    expect(thrown(() => retryDecider({ policy: {} as never })).code).toBe('DSP_CORE_INVALID_ARGUMENT');
    const error = thrown(() => retryDecider({ policy, onExhausted: 'drop' as never }));
    expect(error.code).toBe('DSP_CORE_INVALID_ARGUMENT');
    expect(error.message).toContain('onExhausted');
  });
});
