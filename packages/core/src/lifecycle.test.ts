import { recordingLogger } from '@dispatcher/tooling';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DispatcherError } from './dispatcher-error.js';
import { CoreError } from './errors.js';
import { Lifecycle, runCloseSteps, type StartOptions, settleWithin } from './lifecycle.js';
import { type Logger, noopLogger } from './logger.js';

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Minimal concrete Lifecycle: records hook calls; tests control when start and close finish. */
class Service extends Lifecycle {
  readonly calls: string[] = [];
  destroyedWith: Array<Error | undefined> = [];
  startOptions: StartOptions | undefined;
  startGate: Promise<void> = Promise.resolve();
  closeGate: Promise<void> = Promise.resolve();

  constructor(logger?: Logger) {
    super(logger);
  }

  protected override async onStart(options: StartOptions): Promise<void> {
    this.calls.push('onStart');
    this.startOptions = options;
    await this.startGate;
  }

  protected override async onClose(): Promise<void> {
    this.calls.push('onClose');
    await this.closeGate;
  }

  protected override onDestroy(err?: Error): void {
    this.calls.push('onDestroy');
    this.destroyedWith.push(err);
  }

  /** A call that needs the object running. */
  work(): string {
    this.assertRunning();
    return 'worked';
  }

  get logger(): Logger {
    return this.log;
  }
}

async function codeOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    expect(DispatcherError.isInstance(err)).toBe(true);
    return (err as DispatcherError).code;
  }
  throw new Error('expected a rejection');
}

function syncCodeOf(fn: () => unknown): { code: unknown; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CoreError);
    return { code: (err as CoreError).code, message: (err as CoreError).message };
  }
  throw new Error('expected a throw');
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Lifecycle start', () => {
  it('goes new → starting → running', async () => {
    const s = new Service();
    expect(s.state).toBe('new');
    const gate = deferred();
    s.startGate = gate.promise;
    const started = s.start();
    expect(s.state).toBe('starting');
    gate.resolve();
    await started;
    expect(s.state).toBe('running');
    expect(s.work()).toBe('worked');
    expect(s.calls).toEqual(['onStart']);
  });

  it('passes the options to onStart', async () => {
    const s = new Service();
    const controller = new AbortController();
    await s.start({ signal: controller.signal });
    expect(s.startOptions?.signal).toBe(controller.signal);
  });

  it('returns the same promise on every call and starts once', async () => {
    const s = new Service();
    const first = s.start();
    const second = s.start();
    expect(second).toBe(first);
    await first;
    expect(s.start()).toBe(first);
    expect(s.calls).toEqual(['onStart']);
  });

  it('defaults to the no-op logger', () => {
    const s = new Service();
    expect(s.logger).toBe(noopLogger);
    expect(s.logger.child({ component: 'x' })).toBe(noopLogger);
  });

  it('on failure: rejects with the error, ends closed and calls onDestroy with it', async () => {
    const s = new Service();
    const failure = new Error('cannot connect');
    s.startGate = Promise.reject(failure);
    await expect(s.start()).rejects.toBe(failure);
    expect(s.state).toBe('closed');
    expect(s.calls).toEqual(['onStart', 'onDestroy']);
    expect(s.destroyedWith).toEqual([failure]);
    expect(syncCodeOf(() => s.work()).code).toBe('DSP_CORE_CLOSED');
    // Closing a failed object is a no-op.
    await s.close();
    expect(s.calls).toEqual(['onStart', 'onDestroy']);
  });

  it('on a non-Error failure: calls onDestroy without an error', async () => {
    const s = new Service();
    s.startGate = Promise.reject('just a string');
    await expect(s.start()).rejects.toBe('just a string');
    expect(s.destroyedWith).toEqual([undefined]);
  });

  it('with an already-aborted signal: never calls onStart and ends closed', async () => {
    const s = new Service();
    const started = s.start({ signal: AbortSignal.abort() });
    expect(await codeOf(started)).toBe('DSP_CORE_ABORTED');
    expect(s.calls).toEqual(['onDestroy']);
    expect((s.destroyedWith[0] as CoreError).code).toBe('DSP_CORE_ABORTED');
    expect(s.state).toBe('closed');
  });

  it('rejects with DSP_CORE_CLOSED after close', async () => {
    const s = new Service();
    await s.start();
    await s.close();
    // A second start() returns the first, already settled, promise.
    await expect(s.start()).resolves.toBeUndefined();
    const never = new Service();
    await never.close();
    expect(await codeOf(never.start())).toBe('DSP_CORE_CLOSED');
  });

  it('rejects with DSP_CORE_CLOSED after destroy', async () => {
    const s = new Service();
    s.destroy();
    expect(await codeOf(s.start())).toBe('DSP_CORE_CLOSED');
    expect(s.calls).toEqual(['onDestroy']);
  });
});

describe('Lifecycle close', () => {
  it('goes running → closing → closed, calling onClose once', async () => {
    const s = new Service();
    await s.start();
    const gate = deferred();
    s.closeGate = gate.promise;
    const closed = s.close();
    expect(s.state).toBe('closing');
    const during = syncCodeOf(() => s.work());
    expect(during.code).toBe('DSP_CORE_CLOSED');
    expect(during.message).toBe('Service is closing');
    gate.resolve();
    await closed;
    expect(s.state).toBe('closed');
    expect(s.calls).toEqual(['onStart', 'onClose']);
  });

  it('is idempotent: every call gets the same promise', async () => {
    const s = new Service();
    await s.start();
    const first = s.close();
    expect(s.close()).toBe(first);
    await first;
    expect(s.close()).toBe(first);
    expect(s.calls.filter((c) => c === 'onClose')).toHaveLength(1);
  });

  it('makes assertRunning throw DSP_CORE_CLOSED', async () => {
    const s = new Service();
    await s.start();
    await s.close();
    const { code, message } = syncCodeOf(() => s.work());
    expect(code).toBe('DSP_CORE_CLOSED');
    expect(message).toBe('Service is closed');
  });

  it('assertRunning throws before start too', () => {
    expect(syncCodeOf(() => new Service().work()).message).toBe('Service is new');
  });

  it('during start: waits for start to finish, then closes without ever running', async () => {
    const s = new Service();
    const gate = deferred();
    s.startGate = gate.promise;
    const started = s.start();
    const closed = s.close();
    expect(s.state).toBe('closing');
    await new Promise((resolve) => setImmediate(resolve));
    expect(s.calls).toEqual(['onStart']); // onClose waits for the start
    gate.resolve();
    await started;
    await closed;
    expect(s.calls).toEqual(['onStart', 'onClose']);
    expect(s.state).toBe('closed');
  });

  it('during a start that fails: resolves, and onDestroy (not onClose) releases everything', async () => {
    const s = new Service();
    const gate = deferred();
    s.startGate = gate.promise;
    const started = s.start();
    const closed = s.close();
    const failure = new Error('boom');
    gate.reject(failure);
    await expect(started).rejects.toBe(failure);
    await expect(closed).resolves.toBeUndefined();
    expect(s.state).toBe('closed');
    expect(s.calls).toEqual(['onStart', 'onDestroy']);
    expect(s.destroyedWith).toEqual([failure]);
  });

  it('rejects when onClose throws, still ending closed', async () => {
    const s = new Service();
    await s.start();
    const failure = new Error('flush failed');
    s.closeGate = Promise.reject(failure);
    const closed = s.close();
    await expect(closed).rejects.toBe(failure);
    expect(s.state).toBe('closed');
    expect(s.close()).toBe(closed);
  });

  it('from new: ends closed', async () => {
    const s = new Service();
    await s.close();
    expect(s.state).toBe('closed');
  });

  it('closes through Symbol.asyncDispose', async () => {
    const s = new Service();
    await s.start();
    await s[Symbol.asyncDispose]();
    expect(s.state).toBe('closed');
    expect(s.calls).toEqual(['onStart', 'onClose']);
  });

  it('closes at the end of an `await using` block', async () => {
    let outer: Service | undefined;
    {
      await using s = new Service();
      outer = s;
      await s.start();
      expect(s.state).toBe('running');
    }
    expect(outer.state).toBe('closed');
    expect(outer.calls).toEqual(['onStart', 'onClose']);
  });
});

describe('Lifecycle destroy', () => {
  it('is immediate: closed synchronously, onDestroy with the reason, no onClose', async () => {
    const s = new Service();
    await s.start();
    const reason = new Error('fatal');
    s.destroy(reason);
    expect(s.state).toBe('closed');
    expect(s.calls).toEqual(['onStart', 'onDestroy']);
    expect(s.destroyedWith).toEqual([reason]);
    await s.close();
    expect(s.calls).toEqual(['onStart', 'onDestroy']);
  });

  it('calls onDestroy only once', () => {
    const s = new Service();
    s.destroy();
    s.destroy(new Error('again'));
    expect(s.destroyedWith).toEqual([undefined]);
  });

  it('works from new', async () => {
    const s = new Service();
    s.destroy();
    expect(s.state).toBe('closed');
    await expect(s.close()).resolves.toBeUndefined();
  });

  it('during closing: releases at once; the pending close still settles', async () => {
    const s = new Service();
    await s.start();
    const gate = deferred();
    s.closeGate = gate.promise;
    const closed = s.close();
    s.destroy();
    expect(s.state).toBe('closed');
    expect(s.calls).toEqual(['onStart', 'onClose', 'onDestroy']);
    gate.resolve();
    await closed;
    expect(s.state).toBe('closed');
  });

  it('during a start that then succeeds: stays closed, never running', async () => {
    const s = new Service();
    const gate = deferred();
    s.startGate = gate.promise;
    const started = s.start();
    s.destroy();
    gate.resolve();
    await started;
    expect(s.state).toBe('closed');
    expect(syncCodeOf(() => s.work()).code).toBe('DSP_CORE_CLOSED');
  });

  it('during a start that then fails: onDestroy is still called only once', async () => {
    const s = new Service();
    const gate = deferred();
    s.startGate = gate.promise;
    const started = s.start();
    const reason = new Error('shutdown');
    s.destroy(reason);
    gate.reject(new Error('connection reset'));
    await expect(started).rejects.toThrow('connection reset');
    expect(s.calls).toEqual(['onStart', 'onDestroy']);
    expect(s.destroyedWith).toEqual([reason]);
  });

  it('during a start with a pending close: neither onClose nor a second onDestroy', async () => {
    const s = new Service();
    const gate = deferred();
    s.startGate = gate.promise;
    const started = s.start();
    const closed = s.close();
    s.destroy();
    gate.resolve();
    await started;
    await closed;
    expect(s.calls).toEqual(['onStart', 'onDestroy']);
  });
});

describe('runCloseSteps', () => {
  it('runs every step in order and returns no errors when all succeed', async () => {
    const { logger: log, entries } = recordingLogger();
    const order: string[] = [];
    const errors = await runCloseSteps(log, [
      ['sync', () => order.push('sync')],
      [
        'async',
        async () => {
          await Promise.resolve();
          order.push('async');
        },
      ],
    ]);
    expect(errors).toEqual([]);
    expect(order).toEqual(['sync', 'async']);
    expect(entries).toEqual([]);
  });

  it('runs the remaining steps when one throws or rejects, and logs each failure', async () => {
    const { logger: log, entries } = recordingLogger();
    const order: string[] = [];
    const syncFailure = new Error('sync failure');
    const asyncFailure = new Error('async failure');
    const errors = await runCloseSteps(log, [
      [
        'first',
        () => {
          order.push('first');
          throw syncFailure;
        },
      ],
      ['second', () => order.push('second')],
      [
        'third',
        async () => {
          order.push('third');
          throw asyncFailure;
        },
      ],
      ['fourth', () => order.push('fourth')],
    ]);
    expect(order).toEqual(['first', 'second', 'third', 'fourth']);
    expect(errors).toEqual([syncFailure, asyncFailure]);
    expect(errors[0]).toBe(syncFailure);
    expect(entries).toEqual([
      { level: 'error', fields: { err: syncFailure, step: 'first' }, msg: 'close step failed' },
      { level: 'error', fields: { err: asyncFailure, step: 'third' }, msg: 'close step failed' },
    ]);
  });

  it('wraps a thrown non-Error in an Error', async () => {
    const { logger: log, entries } = recordingLogger();
    const errors = await runCloseSteps(log, [
      [
        'odd',
        () => {
          throw 'plain string';
        },
      ],
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(Error);
    expect(errors[0]?.message).toBe('plain string');
    expect(entries).toEqual([
      { level: 'error', fields: { err: errors[0], step: 'odd' }, msg: 'close step failed' },
    ]);
  });

  it('handles an empty list', async () => {
    await expect(runCloseSteps(recordingLogger().logger, [])).resolves.toEqual([]);
  });
});

describe('settleWithin', () => {
  it('is true when the work resolves in time', async () => {
    await expect(settleWithin(Promise.resolve('x'), 1000)).resolves.toBe(true);
  });

  it('is true when the work rejects in time (settled is settled)', async () => {
    await expect(settleWithin(Promise.reject(new Error('x')), 1000)).resolves.toBe(true);
  });

  it('is false when the work is still pending at the deadline', async () => {
    const started = performance.now();
    await expect(settleWithin(new Promise(() => {}), 20)).resolves.toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
  });

  it('is true for work that finishes just before the deadline, false just after', async () => {
    vi.useFakeTimers();
    const early = settleWithin(new Promise((resolve) => setTimeout(resolve, 99)), 100);
    const late = settleWithin(new Promise((resolve) => setTimeout(resolve, 101)), 100);
    await vi.advanceTimersByTimeAsync(200);
    await expect(early).resolves.toBe(true);
    await expect(late).resolves.toBe(false);
  });

  it('clears its timer once settled', async () => {
    vi.useFakeTimers();
    const settled = settleWithin(Promise.resolve(), 60_000);
    await expect(settled).resolves.toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
