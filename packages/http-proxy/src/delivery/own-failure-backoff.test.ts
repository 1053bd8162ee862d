import { describe, expect, it } from 'vitest';
import { ownFailureBackoffMs } from './own-failure-backoff.js';

describe('ownFailureBackoffMs', () => {
  it('waits 1 s, doubling per consecutive error, capped at 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 100, 5000].map(ownFailureBackoffMs)).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000,
    ]);
  });
});
