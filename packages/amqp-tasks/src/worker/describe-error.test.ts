import { describe, expect, it } from 'vitest';
import { MAX_STACK_HEADER_CHARS } from '../task-headers.js';
import { describeError } from './describe-error.js';

describe('describeError', () => {
  it('keeps the code, message and stack of errors', () => {
    const err = Object.assign(new Error('boom'), { code: 'E_BOOM' });
    const described = describeError(err);
    expect(described).toMatchObject({ code: 'E_BOOM', message: 'boom', error: err });
    expect(described.stack).toContain('boom');
    expect(describeError(new TypeError('t')).code).toBe('TypeError');
    expect(describeError(Object.assign(new Error('n'), { code: 7n })).code).toBe('7');
  });

  it('describes thrown strings and JSON values as before', () => {
    expect(describeError('plain').message).toBe('plain');
    expect(describeError({ a: 1 }).message).toBe('{"a":1}');
    expect(describeError(42).message).toBe('42');
    expect(describeError(null).message).toBe('null');
  });

  it('never throws, whatever was thrown', () => {
    const loop: Record<string, unknown> = { label: 'loop' };
    loop.self = loop;
    const hostile = {
      toJSON() {
        throw new Error('no JSON for you');
      },
    };
    const getterError = new Error('base');
    Object.defineProperty(getterError, 'code', {
      get() {
        throw new Error('no code');
      },
    });
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const cases: unknown[] = [
      10n,
      loop,
      hostile,
      Object.create(null),
      Symbol('s'),
      undefined,
      () => 1,
      getterError,
      revoked.proxy,
    ];
    for (const value of cases) {
      const described = describeError(value);
      expect(typeof described.code).toBe('string');
      expect(typeof described.message).toBe('string');
      expect(typeof described.stack).toBe('string');
      expect(described.error).toBeInstanceOf(Error);
    }
    expect(describeError(10n).message).toBe('10n');
    expect(describeError(loop).message).toContain('[Circular');
  });

  it('caps what it writes into headers', () => {
    const big = { items: Array.from({ length: 20_000 }, (_, i) => ({ i, id: BigInt(i) })) };
    const described = describeError(big);
    expect(described.message.length).toBeLessThanOrEqual(MAX_STACK_HEADER_CHARS);
    expect(described.stack.length).toBeLessThanOrEqual(MAX_STACK_HEADER_CHARS);
  });
});
