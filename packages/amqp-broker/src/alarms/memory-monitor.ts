/**
 * The memory alarm. Every `intervalMs` it reads the process's memory ({@link processMemoryBytes} unless a
 * reader is injected) and sets the `memory` alarm above the high watermark, clearing it at or below — as
 * RabbitMQ's `vm_memory_monitor` does. Between readings it needs no timer to react to a flood: a tripwire
 * on the ready-message gauge checks at once when the bytes queued since the last reading would take the
 * process past the watermark. The gauge's own watermark (`memoryHighWaterBytes`) sets the alarm too.
 *
 * Releasing memory: once at least {@link RECLAIM_BYTES} of message bodies have left the queues since the
 * last collection (a queue deleted or purged, a backlog consumed), a full garbage collection is run, so
 * the bodies' memory is freed even when the broker goes quiet afterwards ({@link fullGc}).
 */
import type { Logger } from '@dispatcher/core';
import type { MemoryGauge } from '../queue/memory-gauge.js';
import { fullGc } from './full-gc.js';
import type { MemoryAlarmStatus } from './resource-alarm-status.js';
import type { ResourceAlarms } from './resource-alarms.js';

/** Message bytes released since the last full collection that make the monitor run one. */
export const RECLAIM_BYTES = 32 * 1024 * 1024;

/** Nearer the watermark than this, the tripwire still waits for this many bytes (no check per message). */
const MIN_TRIP_STEP_BYTES = 1024 * 1024;

export interface MemoryMonitorOptions {
  /** Reading above which the alarm is set, in bytes; 0: only the gauge's watermark sets it. */
  readonly highWatermarkBytes: number;
  /** Time between readings, in milliseconds; 0: only on demand and by the tripwire. */
  readonly intervalMs: number;
  /** Reads the process's memory, in bytes. */
  readonly read: () => number;
  readonly gauge: MemoryGauge;
  readonly alarms: ResourceAlarms;
  readonly log: Logger;
}

export class MemoryMonitor {
  readonly #o: MemoryMonitorOptions;
  #timer: NodeJS.Timeout | undefined;
  #usedBytes = 0;
  #checkedAt: number | undefined;
  #stopGaugeAlarm: (() => void) | undefined;

  constructor(options: MemoryMonitorOptions) {
    this.#o = options;
  }

  /** Takes a first reading and starts polling. */
  start(): void {
    this.#stopGaugeAlarm ??= this.#o.gauge.onChange(() => this.check());
    this.check();
    if (this.#o.intervalMs > 0 && this.#timer === undefined) {
      this.#timer = setInterval(() => this.check(), this.#o.intervalMs);
      this.#timer.unref();
    }
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stopGaugeAlarm?.();
    this.#stopGaugeAlarm = undefined;
    this.#o.gauge.disarmTrip();
  }

  /** Reads the memory now and sets or clears the alarm. Never throws (a failed reading is logged). */
  check(): void {
    const { gauge, highWatermarkBytes: high, log } = this.#o;
    try {
      this.#reclaim();
      this.#usedBytes = this.#o.read();
      this.#checkedAt = Date.now();
    } catch (err) {
      log.error({ err }, 'reading the process memory failed');
      return;
    }
    const used = this.#usedBytes;
    const over = high > 0 && used > high;
    const on = over || gauge.alarmed;
    const figures = {
      usedBytes: used,
      highWatermarkBytes: high,
      messageBytes: gauge.bytes,
      messageHighWaterBytes: gauge.highWaterBytes,
    };
    if (this.#o.alarms.update('memory', on)) {
      if (on) log.warn(figures, 'memory alarm set: publishing connections are blocked');
      else log.warn(figures, 'memory alarm cleared: publishing connections are unblocked');
    }
    if (high > 0 && !over) {
      gauge.tripAbove(gauge.bytes + Math.max(high - used, MIN_TRIP_STEP_BYTES), () => this.check());
    }
  }

  status(): MemoryAlarmStatus {
    return {
      alarmed: this.#o.alarms.isSet('memory'),
      usedBytes: this.#usedBytes,
      highWatermarkBytes: this.#o.highWatermarkBytes,
      messageBytes: this.#o.gauge.bytes,
      messageHighWaterBytes: this.#o.gauge.highWaterBytes,
      checkedAt: this.#checkedAt,
    };
  }

  /** A full collection once enough message bytes were let go (see the file header). */
  #reclaim(): void {
    const gauge = this.#o.gauge;
    const released = gauge.peakBytes - gauge.bytes;
    if (released < RECLAIM_BYTES) return;
    gauge.resetPeak();
    const started = performance.now();
    fullGc();
    this.#o.log.debug(
      { releasedMessageBytes: released, gcMs: Math.round(performance.now() - started) },
      'released message memory',
    );
  }
}
