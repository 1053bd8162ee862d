import { describe, expect, it } from 'vitest';
import { DispatcherError } from './dispatcher-error.js';
import { CoreError } from './errors.js';

/**
 * What a second copy of `@dispatcher/core` in the dependency tree would produce: an unrelated class that
 * carries the same global `Symbol.for` marker.
 */
class ForeignDispatcherError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    Object.defineProperty(this, Symbol.for('dispatcher.error'), { value: true });
  }
}

describe('DispatcherError', () => {
  it('carries code, message, name and no details or cause by default', () => {
    const err = new DispatcherError('DSP_TEST_X', 'something failed');
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('DSP_TEST_X');
    expect(err.message).toBe('something failed');
    expect(err.name).toBe('DispatcherError');
    expect(err.details).toBeUndefined();
    expect('cause' in err).toBe(false);
    expect(err.stack).toContain('something failed');
  });

  it('keeps the cause, including falsy non-undefined ones', () => {
    const root = new Error('root');
    expect(new DispatcherError('C', 'm', { cause: root }).cause).toBe(root);
    const nullCause = new DispatcherError('C', 'm', { cause: null });
    expect('cause' in nullCause).toBe(true);
    expect(nullCause.cause).toBeNull();
    expect(new DispatcherError('C', 'm', { cause: 0 }).cause).toBe(0);
  });

  it('keeps details as given', () => {
    const details = { path: '/var/log/x', seq: 42 };
    const err = new DispatcherError('C', 'm', { details });
    expect(err.details).toBe(details);
    expect(err.details).toEqual({ path: '/var/log/x', seq: 42 });
  });

  it('puts the marker out of sight: not enumerable, not serialised', () => {
    const err = new DispatcherError('C', 'm');
    const marker = Symbol.for('dispatcher.error');
    expect(Object.getOwnPropertyDescriptor(err, marker)).toMatchObject({
      value: true,
      enumerable: false,
      writable: false,
    });
    expect(Object.keys(err)).not.toContain(marker);
    expect(JSON.stringify(err)).not.toContain('dispatcher.error');
  });
});

describe('DispatcherError.isInstance', () => {
  it('is true for DispatcherError, CoreError and further subclasses', () => {
    class PackageError extends DispatcherError {}
    expect(DispatcherError.isInstance(new DispatcherError('C', 'm'))).toBe(true);
    expect(DispatcherError.isInstance(new CoreError('DSP_CORE_CLOSED', 'm'))).toBe(true);
    expect(DispatcherError.isInstance(new PackageError('C', 'm'))).toBe(true);
  });

  it('is true across copies of the package (same Symbol.for marker, different class)', () => {
    const foreign = new ForeignDispatcherError('DSP_OTHER', 'from another copy');
    expect(foreign instanceof DispatcherError).toBe(false);
    expect(DispatcherError.isInstance(foreign)).toBe(true);
    const plain = { code: 'X', [Symbol.for('dispatcher.error')]: true };
    expect(DispatcherError.isInstance(plain)).toBe(true);
  });

  it.each([
    ['a plain Error', new Error('m')],
    ['an Error with a code', Object.assign(new Error('m'), { code: 'DSP_CORE_CLOSED' })],
    ['null', null],
    ['undefined', undefined],
    ['a string', 'DSP_CORE_CLOSED'],
    ['a number', 1],
    ['a marker that is not exactly true', { [Symbol.for('dispatcher.error')]: 'true' }],
    ['a local symbol with the same description', { [Symbol('dispatcher.error')]: true }],
    ['a string key with the same name', { 'dispatcher.error': true }],
  ])('is false for %s', (_name, value) => {
    expect(DispatcherError.isInstance(value)).toBe(false);
  });
});

describe('DispatcherError.hasCode', () => {
  it('is true only for the matching code', () => {
    const err = new CoreError('DSP_CORE_CLOSED', 'closed');
    expect(DispatcherError.hasCode(err, 'DSP_CORE_CLOSED')).toBe(true);
    expect(DispatcherError.hasCode(err, 'DSP_CORE_ABORTED')).toBe(false);
    expect(DispatcherError.hasCode(err, 'dsp_core_closed')).toBe(false);
  });

  it('works across copies', () => {
    const foreign = new ForeignDispatcherError('DSP_OTHER_BUSY', 'm');
    expect(DispatcherError.hasCode(foreign, 'DSP_OTHER_BUSY')).toBe(true);
    expect(DispatcherError.hasCode(foreign, 'DSP_OTHER_IDLE')).toBe(false);
  });

  it('is false for non-Dispatcher errors that happen to carry the code', () => {
    const lookalike = Object.assign(new Error('m'), { code: 'DSP_CORE_CLOSED' });
    expect(DispatcherError.hasCode(lookalike, 'DSP_CORE_CLOSED')).toBe(false);
    expect(DispatcherError.hasCode(undefined, 'DSP_CORE_CLOSED')).toBe(false);
  });
});
