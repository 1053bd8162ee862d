import { createMessage, noopLogger, type StopReason } from '@dispatcher/core';
import { describe, expect, it } from 'vitest';
import { ProxyMetrics } from '../proxy-metrics.js';
import { resolveProxyOptions } from '../proxy-options.js';
import type { AttemptState, DeadLetterInfo } from '../store/record-types.js';
import type { StoredRequest } from '../store/stored-request.js';
import type { DeliveryEvent } from './delivery-event.js';
import { DestinationState } from './destination-state.js';
import type { EngineStore } from './engine-store.js';
import { type AnsweredAttempt, type SettleDeps, settleDeadLetter, settleRetry } from './settle-attempt.js';

/** An in-memory EngineStore that records what the steps write; `deadLetterFails` makes the next write throw. */
class RecordingStore implements EngineStore {
  readonly schedulesRetries = false;
  readonly attempts: AttemptState[] = [];
  readonly dead: DeadLetterInfo[] = [];
  deadLetterFails = 0;
  has = () => true;
  readRequest = async () => undefined;
  attemptState = () => undefined;
  attemptStarted = async () => {};
  complete = async () => {};
  async recordAttempt(_seq: number, state: AttemptState): Promise<void> {
    this.attempts.push(state);
  }
  async deadLetter(_seq: number, _request: StoredRequest, info: DeadLetterInfo): Promise<void> {
    if (this.deadLetterFails > 0) {
      this.deadLetterFails--;
      throw new Error('disk full');
    }
    this.dead.push(info);
  }
}

const options = resolveProxyOptions({ dataDir: '/nonexistent' }).delivery;

function setup() {
  const store = new RecordingStore();
  const callbacks: Array<{ url: string; event: DeliveryEvent }> = [];
  const deps: SettleDeps = {
    store,
    metrics: new ProxyMetrics(),
    log: noopLogger,
    clock: () => 1_000,
    sendCallback: async (url, event) => {
      callbacks.push({ url, event });
    },
    timer: () => ({ observe: () => {} }),
    failureCallbackStored: new Set(),
  };
  const dest = new DestinationState(0, 'http://api.example.com', options, () => 1_000);
  const attempt = (status: number | undefined, error?: string): AnsweredAttempt => ({
    seq: 1,
    request: {
      message: createMessage({ id: 'm-1', body: 'x' }),
      method: 'POST',
      target: 'http://api.example.com/x',
      failureCallbackUrl: 'http://cb.example.com/failed',
      kind: 'request',
    },
    dest,
    attempt: 3,
    seconds: 0.1,
    firstAttemptAt: 500,
    status,
    error,
  });
  return { store, callbacks, deps, dest, attempt };
}

describe('settleDeadLetter', () => {
  it.each<[StopReason, number | undefined, string, number]>([
    ['not-retryable', 404, 'status-404', 0],
    ['not-retryable', undefined, 'not-retryable-error', 1],
    ['max-attempts', 503, 'max-attempts', 1],
  ])(
    'verdict %s with status %s: reason %s, breaker failures %s',
    async (verdict, status, reason, failures) => {
      const { store, deps, dest, attempt } = setup();
      await settleDeadLetter(
        deps,
        attempt(status, status === undefined ? 'ECONNRESET: reset' : undefined),
        verdict,
      );
      expect(store.dead).toHaveLength(1);
      expect(store.dead[0]).toMatchObject({ reason, attempts: 3, host: 'api.example.com', deadAt: 1_000 });
      expect(dest.breaker.consecutiveFailures).toBe(failures);
    },
  );

  it('stores the failure callback once when the dead-letter write fails and the step runs again', async () => {
    const { store, callbacks, deps, attempt } = setup();
    store.deadLetterFails = 1;
    await expect(settleDeadLetter(deps, attempt(404), 'not-retryable')).rejects.toThrow('disk full');
    expect(deps.failureCallbackStored.has(1)).toBe(true);
    await settleDeadLetter(deps, attempt(404), 'not-retryable');
    expect(callbacks).toHaveLength(1);
    expect(callbacks[0]?.event).toMatchObject({ event: 'dead-lettered', reason: 'status-404', status: 404 });
    expect(store.dead).toHaveLength(1);
    expect(deps.failureCallbackStored.has(1)).toBe(false);
  });
});

describe('settleRetry', () => {
  it('records the attempt with its next due time and resolves with it', async () => {
    const { store, deps, dest, attempt } = setup();
    expect(await settleRetry(deps, attempt(503), 250)).toBe(1_250);
    expect(store.attempts).toEqual([
      { attempt: 3, nextAt: 1_250, firstAttemptAt: 500, previousDelayMs: 250, lastStatus: 503 },
    ]);
    expect(dest.breaker.consecutiveFailures).toBe(1);
  });
});
