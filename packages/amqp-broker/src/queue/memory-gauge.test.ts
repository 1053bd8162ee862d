import { describe, expect, it } from 'vitest';
import { MemoryGauge } from './memory-gauge.js';

describe('MemoryGauge', () => {
  it('raises above the high watermark and clears at or below the low one', () => {
    const g = new MemoryGauge(100);
    const changes: boolean[] = [];
    const stop = g.onChange((alarmed) => changes.push(alarmed));
    g.add(100);
    expect(g.alarmed).toBe(false);
    g.add(1);
    g.add(50);
    expect(changes).toEqual([true]);
    g.subtract(100);
    expect(g.alarmed).toBe(true);
    g.subtract(1);
    expect(changes).toEqual([true, false]);
    stop();
    g.add(1000);
    expect(changes).toEqual([true, false]);
  });

  it('never alarms when disabled (0)', () => {
    const g = new MemoryGauge();
    g.add(Number.MAX_SAFE_INTEGER);
    expect(g.alarmed).toBe(false);
  });

  it('trips once above the tripwire, and keeps the peak', () => {
    const g = new MemoryGauge();
    let trips = 0;
    g.tripAbove(100, () => trips++);
    g.add(100);
    expect(trips).toBe(0);
    g.add(1);
    g.add(1000);
    expect(trips).toBe(1);
    g.subtract(1001);
    expect([g.bytes, g.peakBytes]).toEqual([100, 1101]);
    g.resetPeak();
    expect(g.peakBytes).toBe(100);
    g.tripAbove(50, () => trips++); // already above: at once
    expect(trips).toBe(2);
  });
});
