import { type ExponentialBackoffOptions, exponentialBackoff, type RetryPolicy } from '@dispatcher/core';
import { TasksError } from './errors.js';

/** What a task function learns about the delivery it runs for. */
export interface TaskContext {
  /**
   * Fires on timeout (`DSP_TASKS_TASK_TIMEOUT`), on shutdown past the close deadline (`DSP_TASKS_SHUTDOWN`)
   * and when the delivery's channel is lost (`DSP_TASKS_CHANNEL_LOST`); `signal.reason` carries the error.
   * Pass it on to fetch, timers and drivers so the work really stops.
   *
   * An accessor, not a plain field: the run's AbortController is made only when something reads it (most
   * tasks never do, and the hot path stays free of one per task). So `{ ...ctx }` copies every other field
   * but not `signal`; pass `ctx` itself on, or `{ ...ctx, signal: ctx.signal }`.
   */
  readonly signal: AbortSignal;
  readonly uuid: string;
  readonly name: string;
  /** 1 for the first run, 2 for the first retry… */
  readonly attempt: number;
  /** AMQP headers of the message (tracing context, user headers, retry bookkeeping). */
  readonly headers: Readonly<Record<string, unknown>>;
  /** The worker's name. */
  readonly worker: string;
  /** Consumer tag of the delivery (the worker's name, as in the Go library). */
  readonly consumerTag: string;
  readonly queue: string;
  /** True when the broker delivered this message before (a previous consumer did not ack it). */
  readonly redelivered: boolean;
}

/** A task function. Its return value is the result sent back to `call()`; otherwise ignored. */
export type TaskFunction<A = unknown, R = unknown> = (args: A, ctx: TaskContext) => R | Promise<R>;

/** A task function that gets the task uuid first (the Go library's `TaskUUIDAsFirstArg`). */
export type UuidFirstTaskFunction<A = unknown, R = unknown> = (
  uuid: string,
  args: A,
  ctx: TaskContext,
) => R | Promise<R>;

/** Anything with zod's `safeParse` (zod 3 and 4 schemas both fit). */
export interface ParseSchema<T = unknown> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { message: string } };
}

/** How a failed task is retried: a core `RetryPolicy`, or options for core's `exponentialBackoff`. */
export type RetryOptions = RetryPolicy | ExponentialBackoffOptions;

interface TaskConfigBase {
  /**
   * Time a run may take before its signal aborts and the attempt counts as failed, in milliseconds;
   * `0` disables it. Unlike the Go library the slot stays taken until the function really returns, so a
   * function that ignores its signal still counts against the worker's `limit`.
   * @defaultValue the worker's `defaultTimeoutMs` (`60_000`)
   */
  timeoutMs?: number;
  /** Validates (and transforms) `args` before the function runs; a failure dead-letters the task. */
  schema?: ParseSchema;
  /** Validates the function's result; a failure counts as a failed attempt that is not retried. */
  result?: ParseSchema;
  /**
   * Retry policy for failed attempts.
   * @defaultValue the worker's `retry` (exponential backoff, full jitter, 1 s base, 60 s cap, 5 attempts)
   */
  retry?: RetryOptions;
}

/** A task registration in a worker: `fn` is called as `fn(args, ctx)`. */
export interface TaskConfig<A = unknown, R = unknown> extends TaskConfigBase {
  fn: TaskFunction<A, R>;
  uuidAsFirstArg?: false;
}

/** A task registration whose function takes the task uuid first: `fn(uuid, args, ctx)`. */
export interface UuidFirstTaskConfig<A = unknown, R = unknown> extends TaskConfigBase {
  fn: UuidFirstTaskFunction<A, R>;
  uuidAsFirstArg: true;
}

/** Either kind of registration. */
export type AnyTaskConfig = TaskConfig | UuidFirstTaskConfig;

/** Resolves {@link RetryOptions} to a policy. */
export function toRetryPolicy(retry: RetryOptions): RetryPolicy {
  if (typeof (retry as RetryPolicy).next === 'function') return retry as RetryPolicy;
  try {
    return exponentialBackoff(retry as ExponentialBackoffOptions);
  } catch (err) {
    throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', `invalid retry options: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
