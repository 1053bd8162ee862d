/**
 * Lifecycle of long-lived objects (servers, connections, logs):
 *
 *   new ──start()──▶ starting ──ok──▶ running ──close()──▶ closing ──▶ closed
 *    │                  │ fail                                 ▲
 *    │                  ▼                                      │
 *    └────────────▶ (closed) ◀──────────── destroy(err?) ──────┘ (from any state)
 *
 * `close()` is graceful and idempotent (every call gets the same promise); `destroy()` is immediate.
 * Calls on a closing or closed object reject with `closedError()`: `DSP_CORE_CLOSED` unless a package overrides
 * it with its own `…_CLOSED` code, so one object never answers with two codes.
 */
import { throwIfAborted } from './abort.js';
import type { DispatcherError } from './dispatcher-error.js';
import { CoreError } from './errors.js';
import { type Logger, noopLogger } from './logger.js';

export type LifecycleState = 'new' | 'starting' | 'running' | 'closing' | 'closed';

export interface StartOptions {
  /** Cancels a start that waits (connecting, recovering). */
  signal?: AbortSignal;
}

export abstract class Lifecycle {
  #state: LifecycleState = 'new';
  #startPromise: Promise<void> | undefined;
  #closePromise: Promise<void> | undefined;
  protected readonly log: Logger;

  constructor(logger: Logger = noopLogger) {
    this.log = logger;
  }

  get state(): LifecycleState {
    return this.#state;
  }

  /** Acquire resources. Called once; a failure leaves the object closed. */
  protected abstract onStart(options: StartOptions): Promise<void>;
  /** Stop intake, drain in-flight work, release resources in reverse order. */
  protected abstract onClose(): Promise<void>;
  /** Release everything at once; `err` says why. Must not throw. */
  protected abstract onDestroy(err?: Error): void;

  start(options: StartOptions = {}): Promise<void> {
    if (this.#startPromise) return this.#startPromise;
    if (this.#state !== 'new') return Promise.reject(this.closedError());
    this.#state = 'starting';
    this.#startPromise = (async () => {
      try {
        throwIfAborted(options.signal);
        await this.onStart(options);
      } catch (err) {
        // destroy() during start already released everything: never call onDestroy twice.
        const destroyed = this.#state === 'closed';
        this.#state = 'closed';
        if (!destroyed) this.onDestroy(err instanceof Error ? err : undefined);
        throw err;
      }
      // close() or destroy() may have been called while starting.
      if (this.#state === 'starting') this.#state = 'running';
    })();
    return this.#startPromise;
  }

  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    if (this.#state === 'closed') {
      this.#closePromise = Promise.resolve();
      return this.#closePromise;
    }
    const wasStarting = this.#state === 'starting' ? this.#startPromise : undefined;
    this.#state = 'closing';
    this.#closePromise = (async () => {
      if (wasStarting) await wasStarting.catch(() => {});
      // A failed start (or a destroy() meanwhile) already ran onDestroy: nothing is left to close.
      if (this.#state === 'closed') return;
      try {
        await this.onClose();
      } finally {
        this.#state = 'closed';
      }
    })();
    return this.#closePromise;
  }

  destroy(err?: Error): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closePromise ??= Promise.resolve();
    this.onDestroy(err);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Throws `closedError()` unless the object is running. */
  protected assertRunning(): void {
    if (this.#state !== 'running') throw this.closedError();
  }

  /**
   * The error for a call on an object that is not running (a second `start()`, `assertRunning()`).
   * Packages override it to raise their own `…_CLOSED` code.
   */
  protected closedError(): DispatcherError {
    return new CoreError('DSP_CORE_CLOSED', `${this.constructor.name} is ${this.#state}`);
  }
}

/**
 * Runs cleanup steps in order, each in its own try/catch that logs, so one failing step never skips the
 * rest. Returns the errors (empty when all went well).
 */
export async function runCloseSteps(
  log: Logger,
  steps: ReadonlyArray<readonly [name: string, step: () => unknown]>,
): Promise<Error[]> {
  const errors: Error[] = [];
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      errors.push(error);
      log.error({ err: error, step: name }, 'close step failed');
    }
  }
  return errors;
}

/**
 * Waits for `work` at most `timeoutMs`; resolves `true` when it finished in time, `false` otherwise.
 * The timer never keeps the process alive.
 */
export async function settleWithin(work: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([
      work.then(
        () => true as const,
        () => true as const,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
