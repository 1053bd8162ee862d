import { describe, expect, it } from 'vitest';
import { eventually } from '../src/eventually.js';
import { thrown } from '../src/thrown.js';

describe('thrown', () => {
  it('answers the error thrown', () => {
    const error = Object.assign(new Error('bad'), { code: 'E_BAD' });
    expect(
      thrown(() => {
        throw error;
      }),
    ).toBe(error);
  });

  it('fails when nothing is thrown', () => {
    expect(() => thrown(() => 1)).toThrow('expected a throw');
  });
});

describe('eventually', () => {
  it('resolves with the first truthy answer', async () => {
    let n = 0;
    expect(await eventually(() => (++n >= 3 ? `after ${n}` : undefined))).toBe('after 3');
  });

  it('treats a throwing check as not yet', async () => {
    let n = 0;
    const value = await eventually(async () => {
      n += 1;
      if (n < 3) throw new Error('not yet');
      return n;
    });
    expect(value).toBe(3);
  });

  it('rejects naming what it waited for, with the last error as the cause', async () => {
    const started = Date.now();
    const error = await eventually(
      () => {
        throw new Error('still down');
      },
      { timeoutMs: 100, what: 'the service' },
    ).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({
      message: 'timed out waiting for the service',
      cause: { message: 'still down' },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });
});
