import { MAX_STACK_HEADER_CHARS } from '../task-headers.js';

/** The code, message and stack of anything thrown, in forms that fit AMQP headers. */
export function describeError(err: unknown): { code: string; message: string; stack: string; error: Error } {
  const error = err instanceof Error ? err : new Error(typeof err === 'string' ? err : JSON.stringify(err));
  const rawCode = (error as { code?: unknown }).code;
  const code = typeof rawCode === 'string' || typeof rawCode === 'number' ? String(rawCode) : error.name;
  return {
    code,
    message: error.message.slice(0, MAX_STACK_HEADER_CHARS),
    stack: (error.stack ?? '').slice(0, MAX_STACK_HEADER_CHARS),
    error,
  };
}
