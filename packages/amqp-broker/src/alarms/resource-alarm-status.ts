/** The memory alarm, as {@link BrokerServer.resourceAlarms} reports it. */
export interface MemoryAlarmStatus {
  /** Set: publishing connections are blocked. */
  readonly alarmed: boolean;
  /** The last reading of the process's memory, in bytes (see `memoryHighWatermark`). */
  readonly usedBytes: number;
  /** The watermark the reading is compared with, in bytes; 0: the reading never sets the alarm. */
  readonly highWatermarkBytes: number;
  /** Bytes of ready message bodies in all queues. */
  readonly messageBytes: number;
  /** `memoryHighWaterBytes`: ready message bytes that set the alarm too; 0: off. */
  readonly messageHighWaterBytes: number;
  /** When `usedBytes` was read (ms since the epoch); undefined before the first check. */
  readonly checkedAt: number | undefined;
}

/** The disk-free alarm, as {@link BrokerServer.resourceAlarms} reports it. */
export interface DiskAlarmStatus {
  /** Set: publishing connections are blocked. */
  readonly alarmed: boolean;
  /** The directory watched (`persistDir`); undefined when there is none (no disk alarm). */
  readonly path: string | undefined;
  /** Bytes free for the broker on that file system at the last check; undefined before it (or when it failed). */
  readonly freeBytes: number | undefined;
  /** The alarm is set while fewer bytes than this are free. */
  readonly freeLimitBytes: number;
  /** When `freeBytes` was read (ms since the epoch); undefined before the first check. */
  readonly checkedAt: number | undefined;
}

/** The broker's resource alarms (RabbitMQ's `memory` and `disk` alarms) and their figures. */
export interface ResourceAlarmStatus {
  readonly memory: MemoryAlarmStatus;
  readonly disk: DiskAlarmStatus;
  /** Connections blocked now (not read: they published while an alarm was set). */
  readonly blockedConnections: number;
}
