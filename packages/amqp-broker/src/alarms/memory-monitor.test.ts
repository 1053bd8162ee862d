import { noopLogger } from '@dispatcher/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryGauge } from '../queue/memory-gauge.js';
import { MemoryMonitor } from './memory-monitor.js';
import { ResourceAlarms } from './resource-alarms.js';

const MiB = 1024 * 1024;

function monitor(readings: { used: number }, highWatermarkBytes: number, gauge = new MemoryGauge()) {
  const alarms = new ResourceAlarms();
  const read = vi.fn(() => readings.used);
  const m = new MemoryMonitor({ highWatermarkBytes, intervalMs: 0, read, gauge, alarms, log: noopLogger });
  return { m, alarms, gauge, read };
}

describe('MemoryMonitor', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  it('sets the alarm above the watermark and clears it at or below', () => {
    const readings = { used: 90 * MiB };
    const { m, alarms } = monitor(readings, 100 * MiB);
    m.start();
    stop = () => m.stop();
    expect(alarms.isSet('memory')).toBe(false);
    readings.used = 100 * MiB + 1;
    m.check();
    expect(m.status()).toMatchObject({
      alarmed: true,
      usedBytes: 100 * MiB + 1,
      highWatermarkBytes: 100 * MiB,
    });
    readings.used = 100 * MiB;
    m.check();
    expect(alarms.isSet('memory')).toBe(false);
  });

  it('checks at once, between polls, when the bytes queued since the last reading would pass the watermark', () => {
    const readings = { used: 90 * MiB };
    const { m, alarms, gauge, read } = monitor(readings, 100 * MiB);
    m.start();
    stop = () => m.stop();
    expect(read).toHaveBeenCalledTimes(1);
    gauge.add(10 * MiB); // exactly at the watermark: no reading
    expect(read).toHaveBeenCalledTimes(1);
    readings.used = 101 * MiB;
    gauge.add(1);
    expect(read).toHaveBeenCalledTimes(2);
    expect(alarms.isSet('memory')).toBe(true);
  });

  it("counts the gauge's own watermark (memoryHighWaterBytes) as the memory alarm too", () => {
    const { m, alarms, gauge } = monitor({ used: 0 }, 0, new MemoryGauge(1000));
    m.start();
    stop = () => m.stop();
    gauge.add(1001);
    expect(alarms.isSet('memory')).toBe(true);
    gauge.subtract(600);
    expect(alarms.isSet('memory')).toBe(false);
  });

  it('runs a full collection once 32 MiB of message bytes left the queues', () => {
    const { m, gauge } = monitor({ used: 0 }, 0);
    gauge.add(40 * MiB);
    gauge.subtract(20 * MiB);
    m.check();
    expect(gauge.peakBytes).toBe(40 * MiB); // 20 MiB released: not yet
    gauge.subtract(20 * MiB);
    m.check();
    expect(gauge.peakBytes).toBe(0); // collected: the peak starts again
  });
});
