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
} as const;

export type TasksErrorCode = (typeof TasksErrorCodes)[keyof typeof TasksErrorCodes];

/** Errors raised by `@dispatcher/amqp-tasks`. */
export class TasksError extends DispatcherError<TasksErrorCode> {}
