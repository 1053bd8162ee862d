/**
 * The disk-free alarm: every `intervalMs` it reads the space free on the file system of the persist
 * directory ({@link diskFreeBytes}, `statfs`, unless a reader is injected) and sets the `disk` alarm while
 * less than `freeLimitBytes` is free, clearing it once at least that much is — RabbitMQ's
 * `disk_free_limit`. A failed reading is logged (once until a reading succeeds again) and leaves the alarm
 * as it was.
 */
import type { Logger } from '@dispatcher/core';
import type { DiskAlarmStatus } from './resource-alarm-status.js';
import type { ResourceAlarms } from './resource-alarms.js';

export interface DiskMonitorOptions {
  /** Directory whose file system is watched. */
  readonly path: string;
  /** The alarm is set while fewer bytes than this are free. */
  readonly freeLimitBytes: number;
  /** Time between readings, in milliseconds; 0: only on demand. */
  readonly intervalMs: number;
  /** Reads the bytes free for the broker on the file system of a directory. */
  readonly read: (path: string) => Promise<number>;
  readonly alarms: ResourceAlarms;
  readonly log: Logger;
}

export class DiskMonitor {
  readonly #o: DiskMonitorOptions;
  #timer: NodeJS.Timeout | undefined;
  #freeBytes: number | undefined;
  #checkedAt: number | undefined;
  #failing = false;
  #running: Promise<void> | undefined;

  constructor(options: DiskMonitorOptions) {
    this.#o = options;
  }

  /** Takes a first reading (resolves once it is in) and starts polling. */
  async start(): Promise<void> {
    if (this.#o.intervalMs > 0 && this.#timer === undefined) {
      this.#timer = setInterval(() => void this.check(), this.#o.intervalMs);
      this.#timer.unref();
    }
    await this.check();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reads the free space now and sets or clears the alarm; a check already running is joined. Never rejects. */
  check(): Promise<void> {
    this.#running ??= this.#check().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  status(): DiskAlarmStatus {
    return {
      alarmed: this.#o.alarms.isSet('disk'),
      path: this.#o.path,
      freeBytes: this.#freeBytes,
      freeLimitBytes: this.#o.freeLimitBytes,
      checkedAt: this.#checkedAt,
    };
  }

  async #check(): Promise<void> {
    const { path, freeLimitBytes, log } = this.#o;
    let free: number;
    try {
      free = await this.#o.read(path);
    } catch (err) {
      this.#freeBytes = undefined;
      if (!this.#failing) log.error({ err, path }, 'reading the free disk space failed');
      this.#failing = true;
      return;
    }
    this.#failing = false;
    this.#freeBytes = free;
    this.#checkedAt = Date.now();
    const on = free < freeLimitBytes;
    if (this.#o.alarms.update('disk', on)) {
      const figures = { path, freeBytes: free, freeLimitBytes };
      if (on) log.warn(figures, 'disk alarm set: publishing connections are blocked');
      else log.warn(figures, 'disk alarm cleared: publishing connections are unblocked');
    }
  }
}
