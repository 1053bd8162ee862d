import { fileURLToPath } from 'node:url';
import { DispatcherError } from '@dispatcher/core';
import { readErrorDocCodes } from '@dispatcher/tooling';
import { describe, expect, it } from 'vitest';
import { TasksError, TasksErrorCodes } from './errors.js';

describe('TasksError', () => {
  it('lists exactly the exported codes in docs/errors.md', () => {
    const doc = fileURLToPath(new URL('../docs/errors.md', import.meta.url));
    expect(readErrorDocCodes(doc).sort()).toEqual(Object.keys(TasksErrorCodes).sort());
    for (const [key, value] of Object.entries(TasksErrorCodes)) expect(value).toBe(key);
  });

  it('is a DispatcherError with its code and cause', () => {
    const cause = new Error('root');
    const err = new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'bad', { cause });
    expect(DispatcherError.isInstance(err)).toBe(true);
    expect(DispatcherError.hasCode(err, 'DSP_TASKS_INVALID_ARGUMENT')).toBe(true);
    expect(err.cause).toBe(cause);
    expect(err.name).toBe('TasksError');
  });
});
