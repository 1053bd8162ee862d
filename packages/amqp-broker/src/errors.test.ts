import { fileURLToPath } from 'node:url';
import { DispatcherError } from '@dispatcher/core';
import { checkErrorDoc } from '@dispatcher/tooling';
import { describe, expect, it } from 'vitest';
import { BrokerError, BrokerErrorCodes } from './errors.js';

describe('BrokerError', () => {
  it('has the same codes and meanings in errors.ts (TSDoc) and docs/errors.md', () => {
    const problems = checkErrorDoc({
      docPath: fileURLToPath(new URL('../docs/errors.md', import.meta.url)),
      sourcePath: fileURLToPath(new URL('./errors.ts', import.meta.url)),
      codes: BrokerErrorCodes,
      packageName: '@dispatcher/amqp-broker',
    });
    expect(problems).toEqual([]);
  });

  it('is a DispatcherError with its code and cause', () => {
    const cause = new Error('root');
    const err = new BrokerError('DSP_BROKER_INVALID_ARGUMENT', 'bad', { cause });
    expect(DispatcherError.isInstance(err)).toBe(true);
    expect(DispatcherError.hasCode(err, 'DSP_BROKER_INVALID_ARGUMENT')).toBe(true);
    expect(err.cause).toBe(cause);
    expect(err.name).toBe('BrokerError');
  });
});
