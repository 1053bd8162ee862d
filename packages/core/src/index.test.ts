import { describe, expect, it } from 'vitest';
import * as retry from './index.js';

describe('package index', () => {
  it('exports exactly the public API (a change here is an API change: add a changeset)', () => {
    expect(Object.keys(retry).sort()).toEqual([
      'ADMIN_DENIAL_STATUS',
      'ADMIN_SECURITY_HEADERS',
      'CoreError',
      'CoreErrorCodes',
      'DEFAULT_EXPONENTIAL_BACKOFF',
      'DEFAULT_FIXED_SCHEDULE',
      'DEFAULT_HTTP_RETRY_CLASSIFIER',
      'DEFAULT_LEGACY_DISPATCHER_BACKOFF',
      'DEFAULT_QUADRATIC_SCHEDULE',
      'DEFAULT_RETRY_AFTER_OPTIONS',
      'DEFAULT_RETRY_DECIDER',
      'DEFAULT_RETRY_LIMITS',
      'DURABLE_LOG_DEFAULTS',
      'DispatcherError',
      'DurableLog',
      'Lifecycle',
      'MAX_MESSAGE_ID_BYTES',
      'MAX_TIMEOUT_MS',
      'abortReason',
      'adminAccessCheck',
      'adminAccessRequest',
      'adminHostMatcher',
      'bearerTokenMatches',
      'closeOnSignal',
      'createMessage',
      'decodeMessage',
      'defaultClock',
      'defaultRandom',
      'delay',
      'encodeMessage',
      'exponentialBackoff',
      'fixedSchedule',
      'httpRetryClassifier',
      'isLoopbackAddress',
      'isLoopbackHostName',
      'isStateChangingMethod',
      'legacyDispatcherBackoff',
      'newMessageId',
      'nodeLogFileSystem',
      'noopLogger',
      'originHost',
      'parseHostName',
      'parseHttpDate',
      'parseRetryAfter',
      'parseRetryAfterOrThrow',
      'peekMessage',
      'quadraticSchedule',
      'raceAbort',
      'retryDecider',
      'runCloseSteps',
      'settleWithin',
      'throwIfAborted',
      'withAttempt',
    ]);
  });

  it('wires a decider end to end', () => {
    const decider = retry.retryDecider({
      policy: retry.exponentialBackoff({ baseMs: 500, capMs: 10_000, random: () => 0.5 }),
      clock: () => 1_000,
    });
    const retryAfterMs = retry.parseRetryAfter('3', { now: 1_000 });
    expect(
      decider.decide({ kind: 'status', status: 503, retryAfterMs }, { attempt: 1, firstAttemptAt: 0 }),
    ).toEqual({
      action: 'retry',
      delayMs: 3_000,
    });
  });

  it('provides working default sources', () => {
    const r = retry.defaultRandom();
    expect(r).toBeGreaterThanOrEqual(0);
    expect(r).toBeLessThan(1);
    expect(Math.abs(retry.defaultClock() - Date.now())).toBeLessThan(1_000);
  });
});
