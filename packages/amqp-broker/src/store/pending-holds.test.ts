import { describe, expect, it } from 'vitest';
import { PendingHolds } from './pending-holds.js';

function holds() {
  const settled: boolean[] = [];
  return { settled, h: new PendingHolds((ok) => settled.push(ok)) };
}

describe('PendingHolds', () => {
  it('settles ok once the owner and every hold are released, in any order', () => {
    const { settled, h } = holds();
    const a = h.hold();
    const b = h.hold();
    h.release();
    b.release();
    expect(settled).toEqual([]);
    expect(h.count).toBe(1);
    a.release();
    expect(settled).toEqual([true]);
    expect(h.settled).toBe(true);
  });

  it('counts each hold once however often it is released', () => {
    const { settled, h } = holds();
    const a = h.hold();
    h.hold();
    a.release();
    a.release();
    h.release();
    h.release();
    expect(settled).toEqual([]);
    expect(h.count).toBe(1);
  });

  it('settles failed at the first failure; later releases and failures change nothing', () => {
    const { settled, h } = holds();
    const a = h.hold();
    const b = h.hold();
    a.fail();
    expect(settled).toEqual([false]);
    b.release();
    b.fail();
    h.release();
    expect(settled).toEqual([false]);
  });

  it('hands out inert holds once settled', () => {
    const { settled, h } = holds();
    h.release();
    const late = h.hold();
    late.fail();
    expect(settled).toEqual([true]);
  });
});
