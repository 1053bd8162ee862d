import { TasksError } from '../errors.js';

/**
 * Wraps an amqplib error that carries an AMQP reply code (404 NOT_FOUND, 406 PRECONDITION_FAILED,
 * 320 CONNECTION_FORCED…) in `DSP_TASKS_BROKER`, recording whether the channel or the connection died.
 * Errors without a reply code (socket errors) are returned unchanged.
 */
export function toBrokerError(err: unknown, level: 'channel' | 'connection'): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  const replyCode = (err as { code?: unknown }).code;
  if (typeof replyCode !== 'number') return err;
  const { classId, methodId } = err as { classId?: number; methodId?: number };
  return new TasksError('DSP_TASKS_BROKER', err.message, {
    cause: err,
    details: { replyCode, level, classId, methodId },
  });
}
