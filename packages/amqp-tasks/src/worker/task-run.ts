/**
 * One run of a task function and its timeout: the function settling, or its abort (timeout, shutdown,
 * channel lost), whichever comes first, decides the outcome. The slot is released only when the function
 * really returns, so `limit` holds even for functions that ignore their signal.
 */
import { TasksError } from '../errors.js';
import type { ContextPropagation } from '../server-options.js';
import type { TaskContext } from '../task-config.js';
import type { Deadline, DeadlineQueue } from '../timers/deadline-queue.js';
import type { PreparedDelivery } from './prepared-delivery.js';

/** How a run ended. */
export type Outcome =
  | { readonly kind: 'ok'; readonly value: unknown }
  | { readonly kind: 'failed'; readonly error: unknown };

/** The outcome of every function that returned `undefined` (most do): one object, not one per task. */
const OK_UNDEFINED: Outcome = Object.freeze({ kind: 'ok', value: undefined });
const ok = (value: unknown): Outcome => (value === undefined ? OK_UNDEFINED : { kind: 'ok', value });

/** What {@link startRun} needs besides the run: one object per worker, shared by its runs. */
export interface RunOptions {
  readonly worker: string;
  readonly queue: string;
  readonly deadlines: DeadlineQueue;
  readonly propagation: ContextPropagation | undefined;
  /** Called once per run, when the function itself has returned or thrown (not when it was merely aborted). */
  release(run: Run): void;
  /** Called once per run with its outcome (possibly before the function returned: aborted). */
  ended(run: Run, outcome: Outcome): void;
}

/**
 * A run's `ctx`: its fields are plain own properties (spreading or logging `ctx` shows them, as before);
 * `signal` is an accessor on the prototype, so a task costs this object and no closure. A spread does not
 * copy it (documented on `TaskContext.signal`): an own enumerable getter would cost a closure per task.
 */
class RunContext implements TaskContext {
  readonly #run: Run;
  readonly uuid: string;
  readonly name: string;
  readonly attempt: number;
  readonly headers: Readonly<Record<string, unknown>>;
  readonly worker: string;
  readonly consumerTag: string;
  readonly queue: string;
  readonly redelivered: boolean;

  constructor(run: Run) {
    const { prepared, options } = run;
    this.#run = run;
    this.uuid = prepared.uuid;
    this.name = prepared.name;
    this.attempt = prepared.attempt;
    this.headers = prepared.headers;
    this.worker = options.worker;
    this.consumerTag = prepared.msg.fields.consumerTag;
    this.queue = options.queue;
    this.redelivered = prepared.msg.fields.redelivered;
  }

  get signal(): AbortSignal {
    return this.#run.signal;
  }
}

/**
 * A running function. Its AbortController is created only when the function reads `ctx.signal` (most
 * no-op-fast tasks never do, and a controller per task is measurable at 10k tasks/s).
 */
export class Run {
  readonly prepared: PreparedDelivery;
  readonly options: RunOptions;
  /** `performance.now()` when the function was called. */
  readonly startedAt: number;
  #controller: AbortController | undefined = undefined;
  #abortReason: unknown = undefined;
  #timeoutMs = 0;
  #deadline: Deadline | undefined = undefined;
  /** Waiting for an asynchronous function's result: only then does an abort end the run early. */
  #waiting = false;
  /** The outcome was reported. */
  #ended = false;

  constructor(prepared: PreparedDelivery, options: RunOptions) {
    this.prepared = prepared;
    this.options = options;
    this.startedAt = performance.now();
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  /** Aborts once: the signal fires (if anyone read it) and the outcome becomes `failed` with `reason`. */
  abort(reason: unknown): void {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
    // While a synchronous function runs, its return decides.
    if (this.#waiting) this.#end({ kind: 'failed', error: reason });
  }

  /**
   * Calls the task function (`timeoutMs` 0: no timeout) and reports its outcome to `options.ended` once:
   * its value or error, or the abort reason when aborted first. A function that returns a plain value (not
   * a thenable) is reported before this returns, without a promise or a timer: it cannot be interrupted
   * anyway, and this is what no-op-fast tasks cost.
   */
  start(timeoutMs: number): void {
    const { config, args, uuid, headers } = this.prepared;
    const { propagation } = this.options;
    const ctx = new RunContext(this);
    let result: unknown;
    let then: unknown;
    try {
      if (propagation) {
        result = propagation.runInContext(headers, () =>
          config.uuidAsFirstArg ? config.fn(uuid, args, ctx) : config.fn(args, ctx),
        );
      } else {
        result = config.uuidAsFirstArg ? config.fn(uuid, args, ctx) : config.fn(args, ctx);
      }
      // A hostile `then` getter throws like a rejection would.
      then =
        result !== null && (typeof result === 'object' || typeof result === 'function')
          ? (result as { then?: unknown }).then
          : undefined;
    } catch (error) {
      this.options.release(this);
      this.#end({ kind: 'failed', error });
      return;
    }
    if (typeof then !== 'function') {
      this.options.release(this);
      this.#end(ok(result));
      return;
    }
    this.#timeoutMs = timeoutMs;
    if (timeoutMs > 0) this.#deadline = this.options.deadlines.add(timeoutMs, this);
    this.#waiting = true;
    // Aborted while the function was being called (it shut the worker down itself): that decides.
    if (this.#abortReason !== undefined) this.#end({ kind: 'failed', error: this.#abortReason });
    // Adopted like `await` would (a foreign thenable included); the slot is freed when it really settles.
    Promise.resolve(result as PromiseLike<unknown>).then(
      (value) => {
        this.options.release(this);
        this.#end(ok(value));
      },
      (error: unknown) => {
        this.options.release(this);
        this.#end({ kind: 'failed', error });
      },
    );
  }

  /** The deadline's callback (OnExpire). */
  expire(): void {
    const { name, uuid } = this.prepared;
    const timeoutMs = this.#timeoutMs;
    this.abort(
      new TasksError('DSP_TASKS_TASK_TIMEOUT', `task ${name} exceeded ${timeoutMs} ms`, {
        details: { uuid, timeoutMs },
      }),
    );
  }

  #end(outcome: Outcome): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#waiting = false;
    this.#deadline?.cancel();
    this.options.ended(this, outcome);
  }
}
