import { DispatcherError } from '@dispatcher/core';

/**
 * Error codes of `@dispatcher/amqp-tasks`. A retired code is never reused; `docs/errors.md` lists the same set
 * (a test keeps them equal).
 */
export const TasksErrorCodes = {
  /** An option or argument failed validation. */
  DSP_TASKS_INVALID_ARGUMENT: 'DSP_TASKS_INVALID_ARGUMENT',
  /** The object was closed (or is closing) and takes no more calls. */
  DSP_TASKS_CLOSED: 'DSP_TASKS_CLOSED',
  /** `start()` could not reach the broker within its retries or `startTimeoutMs`. */
  DSP_TASKS_CONNECT_FAILED: 'DSP_TASKS_CONNECT_FAILED',
  /**
   * The broker closed a channel or the connection with an error; `details.replyCode` (404, 406, 320…) and
   * `details.level` (`channel` or `connection`) say which.
   */
  DSP_TASKS_BROKER: 'DSP_TASKS_BROKER',
  /** The channel (or its connection) carrying a delivery, publish or call went away. */
  DSP_TASKS_CHANNEL_LOST: 'DSP_TASKS_CHANNEL_LOST',
  /** A mandatory publish matched no queue; the broker returned it. */
  DSP_TASKS_UNROUTABLE: 'DSP_TASKS_UNROUTABLE',
  /** The broker refused a publish (`basic.nack`), e.g. a full queue with `overflow: reject-publish`. */
  DSP_TASKS_NACKED: 'DSP_TASKS_NACKED',
  /** A publish was not confirmed within its timeout (buffered while disconnected, or awaiting its confirm). */
  DSP_TASKS_PUBLISH_TIMEOUT: 'DSP_TASKS_PUBLISH_TIMEOUT',
  /** The bounded buffer of publishes waiting for a connection is full. */
  DSP_TASKS_BUFFER_FULL: 'DSP_TASKS_BUFFER_FULL',
  /** The caller's AbortSignal fired. */
  DSP_TASKS_ABORTED: 'DSP_TASKS_ABORTED',
  /** A task function exceeded its `timeoutMs`; its signal was aborted with this error. */
  DSP_TASKS_TASK_TIMEOUT: 'DSP_TASKS_TASK_TIMEOUT',
  /** A running task was aborted because `close()` reached its deadline; the task is redelivered. */
  DSP_TASKS_SHUTDOWN: 'DSP_TASKS_SHUTDOWN',
  /** A message could not be decoded into a task (bad JSON, unknown content type, bad Go argument). */
  DSP_TASKS_DECODE: 'DSP_TASKS_DECODE',
  /** Task arguments (or a result) failed the task's schema. */
  DSP_TASKS_VALIDATION: 'DSP_TASKS_VALIDATION',
  /** No function is registered under the task's name in this worker. */
  DSP_TASKS_UNKNOWN_TASK: 'DSP_TASKS_UNKNOWN_TASK',
  /** A task called through `call()` failed for good (it was dead-lettered); `cause` carries the remote error. */
  DSP_TASKS_TASK_FAILED: 'DSP_TASKS_TASK_FAILED',
  /** `call()` got no result within its `timeoutMs`. */
  DSP_TASKS_CALL_TIMEOUT: 'DSP_TASKS_CALL_TIMEOUT',
  /**
   * A task's args (at `publish()`) or its result (for the `call()` reply) cannot be encoded: JSON cannot hold
   * a BigInt or a circular reference. For a result, the task ran and was acknowledged, and the caller gets this
   * code instead of a timeout.
   */
  DSP_TASKS_ENCODE: 'DSP_TASKS_ENCODE',
} as const;

export type TasksErrorCode = (typeof TasksErrorCodes)[keyof typeof TasksErrorCodes];

/** Errors raised by `@dispatcher/amqp-tasks`. */
export class TasksError extends DispatcherError<TasksErrorCode> {}
