import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { abortReason, delay, raceAbort, throwIfAborted } from './abort.js';
import { DispatcherError } from './dispatcher-error.js';
import { CoreError } from './errors.js';

function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

/** A promise with its settle functions, so a test decides when (and how) it settles. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Settles `promise` into a plain record so a test can look at it without awaiting a rejection. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => {
      state.settled = true;
      state.value = value;
    },
    (error: unknown) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('abortReason', () => {
  it('wraps the default AbortError in DSP_CORE_ABORTED, keeping it as the cause', () => {
    const controller = new AbortController();
    controller.abort();
    const reason: unknown = controller.signal.reason;
    expect((reason as Error).name).toBe('AbortError');
    const err = abortReason(controller.signal);
    expect(err).toBeInstanceOf(CoreError);
    expect(DispatcherError.hasCode(err, 'DSP_CORE_ABORTED')).toBe(true);
    expect(err.cause).toBe(reason);
  });

  it('returns an Error reason as is', () => {
    const reason = new TypeError('shutting down');
    expect(abortReason(AbortSignal.abort(reason))).toBe(reason);
  });

  it('returns a TimeoutError from AbortSignal.timeout as is', async () => {
    const signal = AbortSignal.timeout(1);
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    const err = abortReason(signal);
    expect(err.name).toBe('TimeoutError');
    expect(err).toBe(signal.reason);
  });

  it('wraps any error named AbortError', () => {
    const reason = new Error('custom');
    reason.name = 'AbortError';
    const err = abortReason(AbortSignal.abort(reason));
    expect((err as CoreError).code).toBe('DSP_CORE_ABORTED');
    expect(err.cause).toBe(reason);
  });

  it.each([['a string'], [42], [{ why: 'object' }], [null]])('wraps a non-Error reason %j', (reason) => {
    const err = abortReason(AbortSignal.abort(reason));
    expect((err as CoreError).code).toBe('DSP_CORE_ABORTED');
    expect(err.cause).toBe(reason);
  });
});

describe('throwIfAborted', () => {
  it('does nothing without a signal or before the abort', () => {
    expect(() => throwIfAborted(undefined)).not.toThrow();
    expect(() => throwIfAborted(new AbortController().signal)).not.toThrow();
  });

  it('throws the abort reason once aborted', () => {
    const reason = new Error('stop');
    expect(() => throwIfAborted(AbortSignal.abort(reason))).toThrow(reason);
    try {
      throwIfAborted(AbortSignal.abort());
      expect.unreachable();
    } catch (err) {
      expect((err as CoreError).code).toBe('DSP_CORE_ABORTED');
    }
  });
});

describe('raceAbort', () => {
  it('returns the very same promise without a signal', () => {
    const promise = Promise.resolve(1);
    expect(raceAbort(promise, undefined)).toBe(promise);
  });

  it('resolves with the value and removes its listener', async () => {
    const controller = new AbortController();
    const d = deferred<string>();
    const raced = raceAbort(d.promise, controller.signal);
    expect(abortListeners(controller.signal)).toBe(1);
    d.resolve('done');
    await expect(raced).resolves.toBe('done');
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it("rejects with the promise's own error and removes its listener", async () => {
    const controller = new AbortController();
    const failure = new Error('work failed');
    const raced = raceAbort(Promise.reject(failure), controller.signal);
    await expect(raced).rejects.toBe(failure);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('rejects with the abort reason as soon as the signal fires', async () => {
    const controller = new AbortController();
    const d = deferred<string>();
    const state = track(raceAbort(d.promise, controller.signal));
    await Promise.resolve();
    expect(state.settled).toBe(false);
    const reason = new Error('cancelled');
    controller.abort(reason);
    await Promise.resolve();
    expect(state.settled).toBe(true);
    expect(state.error).toBe(reason);
    expect(abortListeners(controller.signal)).toBe(0);
    // The losing promise settling later changes nothing and is not an unhandled rejection.
    d.reject(new Error('late'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(state.error).toBe(reason);
  });

  it('rejects with DSP_CORE_ABORTED for a plain abort()', async () => {
    const controller = new AbortController();
    const raced = raceAbort(new Promise<never>(() => {}), controller.signal);
    controller.abort();
    await expect(raced).rejects.toMatchObject({ code: 'DSP_CORE_ABORTED' });
  });

  it('rejects at once when the signal has already aborted, without adding a listener', async () => {
    const reason = new Error('already');
    const signal = AbortSignal.abort(reason);
    await expect(raceAbort(Promise.resolve('ignored'), signal)).rejects.toBe(reason);
    expect(abortListeners(signal)).toBe(0);
  });

  it('leaks no listener over many races on one long-lived signal', async () => {
    const controller = new AbortController();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 500; i++) {
        await raceAbort(Promise.resolve(i), controller.signal);
        await raceAbort(Promise.reject(new Error(`e${i}`)), controller.signal).catch(() => {});
      }
      // Let any deferred warning be emitted.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(abortListeners(controller.signal)).toBe(0);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });
});

describe('delay', () => {
  it('resolves after ms, not before', async () => {
    vi.useFakeTimers();
    const state = track(delay(1000));
    await vi.advanceTimersByTimeAsync(999);
    expect(state.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(state.settled).toBe(true);
    expect(state.error).toBeUndefined();
  });

  it('resolves with a signal that never fires and removes its listener', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const state = track(delay(50, controller.signal));
    expect(abortListeners(controller.signal)).toBe(1);
    await vi.advanceTimersByTimeAsync(50);
    expect(state.settled).toBe(true);
    expect(state.error).toBeUndefined();
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('rejects with the abort reason when the signal fires first, and clears its timer', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const state = track(delay(10_000, controller.signal));
    await vi.advanceTimersByTimeAsync(100);
    expect(vi.getTimerCount()).toBe(1);
    const reason = new Error('stop');
    controller.abort(reason);
    await Promise.resolve();
    expect(state.settled).toBe(true);
    expect(state.error).toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('rejects with DSP_CORE_ABORTED for a plain abort()', async () => {
    const controller = new AbortController();
    const waiting = delay(60_000, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'DSP_CORE_ABORTED' });
  });

  it('rejects at once when already aborted, without starting a timer', async () => {
    vi.useFakeTimers();
    const reason = new Error('already');
    const waiting = delay(1000, AbortSignal.abort(reason));
    expect(vi.getTimerCount()).toBe(0);
    await expect(waiting).rejects.toBe(reason);
  });

  it('really waits with real timers', async () => {
    const started = performance.now();
    await delay(30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });
});
