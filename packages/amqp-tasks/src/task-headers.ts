/**
 * AMQP header names this library reads and writes. They travel with the message through delay queues and
 * into the dead-letter queue, so a task's history survives restarts without any state in the worker.
 * Go workers ignore unknown headers, so these never break wire compatibility.
 */
export const TaskHeaders = {
  /** The attempt this delivery is (1 for the first run). */
  attempt: 'x-dispatcher-attempt',
  /** When the first attempt started, epoch milliseconds (for `maxAgeMs` of retry policies). */
  firstAttemptAt: 'x-dispatcher-first-attempt-at',
  /** Do not run before this time, epoch milliseconds (delayed tasks and retries). */
  notBefore: 'x-dispatcher-not-before',
  /** Why a task reached the dead-letter queue: `failed`, `decode`, `validation`, `unknown-task`. */
  deadLetterReason: 'x-dispatcher-dead-letter-reason',
  /** Code of the last error (`DSP_TASKS_…` or the thrown error's own `code`, else its name). */
  errorCode: 'x-dispatcher-error-code',
  /** Message of the last error. */
  errorMessage: 'x-dispatcher-error-message',
  /** Stack of the last error, truncated to {@link MAX_STACK_HEADER_CHARS}. */
  errorStack: 'x-dispatcher-error-stack',
  /** Attempts made in total when the task was dead-lettered. */
  attempts: 'x-dispatcher-attempts',
  /** When the task was dead-lettered, epoch milliseconds. */
  failedAt: 'x-dispatcher-failed-at',
  /** The queue the task failed on. */
  queue: 'x-dispatcher-queue',
  /** The worker (consumer tag) the task failed on. */
  worker: 'x-dispatcher-worker',
  /**
   * Set by the publishing channel only on a publish whose message id (task uuid) is already in flight on
   * it, so a `basic.return` can be matched to its own publish; a stale value is dropped when the message is
   * published again.
   */
  publishTag: 'x-dispatcher-publish-tag',
} as const;

/** Header tables are limited in size (64 KiB in amqplib); a deep stack must not make a dead-letter fail. */
export const MAX_STACK_HEADER_CHARS = 4_096;

/** Reads a numeric header written by us (or a string holding a number); `undefined` when absent or bad. */
export function readNumberHeader(
  headers: Record<string, unknown> | undefined,
  name: string,
): number | undefined {
  const raw = headers?.[name];
  const value = typeof raw === 'string' ? Number(raw) : raw;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
