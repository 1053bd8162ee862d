import { totalmem } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { totalMemoryBytes } from './total-memory-bytes.js';

describe('totalMemoryBytes', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('is the cgroup limit when one is set below the machine memory', () => {
    vi.spyOn(process, 'constrainedMemory').mockReturnValue(512 * 1024 * 1024);
    expect(totalMemoryBytes()).toBe(512 * 1024 * 1024);
  });

  it("is the machine's memory without a limit (libuv reports 0 or 2^64)", () => {
    vi.spyOn(process, 'constrainedMemory').mockReturnValue(0);
    expect(totalMemoryBytes()).toBe(totalmem());
    vi.spyOn(process, 'constrainedMemory').mockReturnValue(2 ** 64);
    expect(totalMemoryBytes()).toBe(totalmem());
  });
});
