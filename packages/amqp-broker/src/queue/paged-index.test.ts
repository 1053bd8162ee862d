import { describe, expect, it } from 'vitest';
import { PagedIndex, type PagedRef } from './paged-index.js';

describe('PagedIndex', () => {
  it('is a FIFO across chunk boundaries, tracking length and bytes', () => {
    const index = new PagedIndex();
    const n = 10_000; // more than two chunks
    for (let i = 0; i < n; i++)
      index.push(1000 + i, i + 1, i % 3 === 0 ? 0 : 1_700_000_000_000 + i, 100 + (i % 7));
    expect(index.length).toBe(n);
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += 100 + (i % 7);
    expect(index.bytes).toBe(bytes);
    const seen: number[] = [];
    index.forEachLogSeq((s) => seen.push(s));
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => 1000 + i));

    const ref: PagedRef = { logSeq: 0, queueSeq: 0, expiresAt: 0, size: 0 };
    for (let i = 0; i < n; i++) {
      expect(index.peekSize()).toBe(100 + (i % 7));
      expect(index.shift(ref)).toBe(true);
      expect(ref).toEqual({
        logSeq: 1000 + i,
        queueSeq: i + 1,
        expiresAt: i % 3 === 0 ? 0 : 1_700_000_000_000 + i,
        size: 100 + (i % 7),
      });
    }
    expect(index.shift(ref)).toBe(false);
    expect(index.length).toBe(0);
    expect(index.bytes).toBe(0);
  });

  it('interleaves pushes and shifts (a backlog drained while it grows)', () => {
    const index = new PagedIndex();
    const ref: PagedRef = { logSeq: 0, queueSeq: 0, expiresAt: 0, size: 0 };
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      for (let k = 0; k < 300; k++) index.push(next++, 0, 0, 1);
      for (let k = 0; k < 200; k++) {
        index.shift(ref);
        expect(ref.logSeq).toBe(expected++);
      }
    }
    expect(index.length).toBe(next - expected);
    const rest: number[] = [];
    index.forEachLogSeq((s) => rest.push(s));
    expect(rest[0]).toBe(expected);
    expect(rest.at(-1)).toBe(next - 1);
    index.clear();
    expect(index.length).toBe(0);
  });
});
