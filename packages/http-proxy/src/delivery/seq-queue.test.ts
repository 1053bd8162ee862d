import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DueHeap } from './due-heap.js';
import { SeqQueue } from './seq-queue.js';

describe('SeqQueue', () => {
  it('is a FIFO across growth, with unshift putting an item back in front', () => {
    const q = new SeqQueue();
    for (let i = 1; i <= 200; i++) q.push(i);
    expect(q.shift()).toBe(1);
    q.unshift(1);
    for (let i = 201; i <= 300; i++) q.push(i);
    expect([...q]).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    const out: number[] = [];
    for (let s = q.shift(); s !== undefined; s = q.shift()) out.push(s);
    expect(out.length).toBe(300);
    expect(q.size).toBe(0);
  });
});

describe('DueHeap', () => {
  it('pops by due time, then by sequence, keeping the destination', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 1e6 })), {
          maxLength: 300,
        }),
        (items) => {
          const heap = new DueHeap();
          const uniq = [...new Map(items.map(([d, s]) => [s, d])).entries()].map(([s, d]) => ({
            due: d,
            seq: s,
            dest: s % 7,
          }));
          for (const e of uniq) heap.push(e.due, e.seq, e.dest);
          const popped = [];
          for (let e = heap.pop(); e; e = heap.pop()) popped.push(e);
          const expected = [...uniq].sort((a, b) => a.due - b.due || a.seq - b.seq);
          expect(popped).toEqual(expected);
        },
      ),
    );
  });
});
