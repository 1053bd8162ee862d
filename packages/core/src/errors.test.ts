import { fileURLToPath } from 'node:url';
import { checkErrorDoc } from '@dispatcher/tooling';
import { describe, expect, it } from 'vitest';
import { DispatcherError } from './dispatcher-error.js';
import { CoreError, CoreErrorCodes } from './errors.js';

describe('docs/errors.md', () => {
  it('has the same codes and meanings as errors.ts (TSDoc)', () => {
    const problems = checkErrorDoc({
      docPath: fileURLToPath(new URL('../docs/errors.md', import.meta.url)),
      sourcePath: fileURLToPath(new URL('./errors.ts', import.meta.url)),
      codes: CoreErrorCodes,
      packageName: '@dispatcher/core',
    });
    expect(problems).toEqual([]);
  });
});

describe('CoreErrorCodes', () => {
  it('maps every key to itself', () => {
    for (const [key, value] of Object.entries(CoreErrorCodes)) expect(value).toBe(key);
  });

  it('uses the DSP_CORE_ prefix for every code', () => {
    for (const key of Object.keys(CoreErrorCodes)) expect(key).toMatch(/^DSP_CORE_[A-Z0-9_]+$/);
  });
});

describe('CoreError', () => {
  it('is a DispatcherError with its code, name, cause and details', () => {
    const cause = new Error('root');
    const err = new CoreError('DSP_CORE_LOG_CORRUPT', 'bad record', { cause, details: { seq: 7 } });
    expect(err).toBeInstanceOf(CoreError);
    expect(err).toBeInstanceOf(DispatcherError);
    expect(err).toBeInstanceOf(Error);
    expect(DispatcherError.isInstance(err)).toBe(true);
    expect(DispatcherError.hasCode(err, 'DSP_CORE_LOG_CORRUPT')).toBe(true);
    expect(err.name).toBe('CoreError');
    expect(err.message).toBe('bad record');
    expect(err.cause).toBe(cause);
    expect(err.details).toEqual({ seq: 7 });
    expect(String(err)).toBe('CoreError: bad record');
  });

  it('has no cause or details unless given', () => {
    const err = new CoreError('DSP_CORE_CLOSED', 'closed');
    expect('cause' in err).toBe(false);
    expect(err.details).toBeUndefined();
  });
});
