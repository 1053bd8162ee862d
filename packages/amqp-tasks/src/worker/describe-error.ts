import { inspect } from 'node:util';
import { MAX_STACK_HEADER_CHARS } from '../task-headers.js';

/** What a failure is recorded as: header-sized code, message and stack, and an `Error` for events and logs. */
export interface DescribedError {
  code: string;
  message: string;
  stack: string;
  error: Error;
}

/**
 * The code, message and stack of anything thrown, in forms that fit AMQP headers. Total: it never throws,
 * whatever was thrown (a BigInt, a circular object, a hostile getter or `toJSON`, a revoked proxy), because
 * it runs on the path that settles the delivery, and a throw there would leave the message unsettled.
 */
export function describeError(err: unknown): DescribedError {
  try {
    const error = err instanceof Error ? err : new Error(describeValue(err));
    const rawCode = safely(() => (error as { code?: unknown }).code);
    const code =
      typeof rawCode === 'string' || typeof rawCode === 'number' || typeof rawCode === 'bigint'
        ? String(rawCode)
        : (safely(() => String(error.name)) ?? 'Error');
    const message = safely(() => String(error.message)) ?? '';
    const stack = safely(() => String(error.stack ?? '')) ?? '';
    return {
      code: code.slice(0, MAX_STACK_HEADER_CHARS),
      message: message.slice(0, MAX_STACK_HEADER_CHARS),
      stack: stack.slice(0, MAX_STACK_HEADER_CHARS),
      error,
    };
  } catch {
    const error = new Error('an error that could not be described');
    return { code: 'Error', message: error.message, stack: '', error };
  }
}

/** A thrown non-Error as text: strings as they are, JSON when it can be, else `util.inspect` (bounded). */
function describeValue(value: unknown): string {
  if (typeof value === 'string') return value;
  const json = safely(() => JSON.stringify(value));
  if (typeof json === 'string') return json;
  // BigInt, circular references, functions, symbols, undefined: JSON has no text for them.
  const inspected = safely(() =>
    inspect(value, { depth: 4, maxArrayLength: 20, maxStringLength: 1_000, breakLength: Infinity }),
  );
  return (inspected ?? safely(() => Object.prototype.toString.call(value)) ?? 'unknown value').slice(
    0,
    MAX_STACK_HEADER_CHARS,
  );
}

function safely<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}
