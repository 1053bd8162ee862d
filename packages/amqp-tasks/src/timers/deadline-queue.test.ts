import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineQueue } from './deadline-queue.js';

describe('DeadlineQueue', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs each callback once after its duration, in order, and never a cancelled one', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const queue = new DeadlineQueue();
    const fired: string[] = [];
    queue.add(100, () => fired.push('a'));
    const b = queue.add(100, () => fired.push('b'));
    queue.add(30, () => fired.push('short'));
    vi.advanceTimersByTime(50);
    queue.add(100, () => fired.push('c'));
    b.cancel();
    expect(fired).toEqual(['short']);
    vi.advanceTimersByTime(49);
    expect(fired).toEqual(['short']);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['short', 'a']);
    vi.advanceTimersByTime(50);
    expect(fired).toEqual(['short', 'a', 'c']);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual(['short', 'a', 'c']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('holds no timer once every deadline is cancelled, and copes with many cancelled behind a live head', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const queue = new DeadlineQueue();
    let fired = 0;
    const head = queue.add(1_000, () => fired++);
    const rest = Array.from({ length: 5_000 }, () => queue.add(1_000, () => fired++));
    for (const deadline of rest.slice(0, 4_990)) deadline.cancel();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1_000);
    expect(fired).toBe(11);
    head.cancel(); // already run: nothing happens
    const late = queue.add(1_000, () => fired++);
    late.cancel();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(5_000);
    expect(fired).toBe(11);
  });
});
