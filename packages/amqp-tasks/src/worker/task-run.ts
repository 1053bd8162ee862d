/**
 * One run of a task function and its timeout: the function settling, or its abort (timeout, shutdown,
 * channel lost), whichever comes first, decides the outcome. The slot is released only when the function
 * really returns, so `limit` holds even for functions that ignore their signal.
 */
import { TasksError } from '../errors.js';
import type { ContextPropagation } from '../server-options.js';
import type { TaskContext } from '../task-config.js';
import type { DeadlineQueue } from '../timers/deadline-queue.js';
import type { PreparedDelivery } from './prepared-delivery.js';

/**
 * A running function. Its AbortController is created only when the function reads `ctx.signal` (most
 * no-op-fast tasks never do, and a controller per task is measurable at 10k tasks/s).
 */
export interface Run {
  readonly prepared: PreparedDelivery;
  controller: AbortController | undefined;
  abortReason: unknown;
  /** Ends the wait for the outcome with this reason. */
  onAbort: ((reason: unknown) => void) | undefined;
}

/** How a run ended. */
export type Outcome =
  | { readonly kind: 'ok'; readonly value: unknown }
  | { readonly kind: 'failed'; readonly error: unknown };

export function createRun(prepared: PreparedDelivery): Run {
  return { prepared, controller: undefined, abortReason: undefined, onAbort: undefined };
}

/** Aborts a run once: its signal fires (if anyone read it) and its outcome becomes `failed` with `reason`. */
export function abortRun(run: Run, reason: unknown): void {
  if (run.abortReason !== undefined) return;
  run.abortReason = reason;
  run.controller?.abort(reason);
  run.onAbort?.(reason);
}

function signalOf(run: Run): AbortSignal {
  if (!run.controller) {
    run.controller = new AbortController();
    if (run.abortReason !== undefined) run.controller.abort(run.abortReason);
  }
  return run.controller.signal;
}

/** What {@link executeRun} needs besides the run. */
export interface ExecuteRunOptions {
  readonly worker: string;
  readonly queue: string;
  /** 0: no timeout. */
  readonly timeoutMs: number;
  readonly deadlines: DeadlineQueue;
  readonly propagation: ContextPropagation | undefined;
  /** Called once, when the function itself has returned or thrown (not when it was merely aborted). */
  readonly release: () => void;
}

/** Calls the task function and resolves with its outcome, or with the abort reason when aborted first. */
export async function executeRun(run: Run, options: ExecuteRunOptions): Promise<Outcome> {
  const { prepared } = run;
  const { config } = prepared;
  const ctx: TaskContext = {
    get signal() {
      return signalOf(run);
    },
    uuid: prepared.uuid,
    name: prepared.name,
    attempt: prepared.attempt,
    headers: prepared.headers,
    worker: options.worker,
    consumerTag: prepared.msg.fields.consumerTag,
    queue: options.queue,
    redelivered: prepared.msg.fields.redelivered,
  };
  const invoke = (): unknown =>
    config.uuidAsFirstArg ? config.fn(prepared.uuid, prepared.args, ctx) : config.fn(prepared.args, ctx);
  const { propagation, timeoutMs } = options;
  const fnDone = new Promise<unknown>((resolve) => {
    resolve(propagation ? propagation.runInContext(prepared.headers, invoke) : invoke());
  });
  const deadline =
    timeoutMs > 0
      ? options.deadlines.add(timeoutMs, () => {
          abortRun(
            run,
            new TasksError('DSP_TASKS_TASK_TIMEOUT', `task ${prepared.name} exceeded ${timeoutMs} ms`, {
              details: { uuid: prepared.uuid, timeoutMs },
            }),
          );
        })
      : undefined;
  // One promise for the outcome: the function settling, or its abort (timeout, shutdown, channel lost).
  const outcome = await new Promise<Outcome>((resolve) => {
    run.onAbort = (reason) => resolve({ kind: 'failed', error: reason });
    fnDone.then(
      (value) => {
        options.release();
        resolve({ kind: 'ok', value });
      },
      (error: unknown) => {
        options.release();
        resolve({ kind: 'failed', error });
      },
    );
  });
  deadline?.cancel();
  return outcome;
}
