import { expect } from 'vitest';
import { DispatcherError } from '../../src/dispatcher-error.js';

/** The `code` of the DispatcherError `fn` throws; fails the test when it throws nothing or another error. */
export function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(DispatcherError.isInstance(err), String(err)).toBe(true);
    return (err as DispatcherError).code;
  }
  throw new Error('expected a throw');
}
