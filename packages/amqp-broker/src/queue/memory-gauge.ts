/**
 * Broker-wide count of the bytes held by ready messages (bodies), with a high watermark: above it the
 * alarm is raised (publishing connections get connection.blocked and stop being read), and it clears once
 * the count is back at or below the low watermark — RabbitMQ's memory alarm, on a gauge the broker can
 * measure exactly. Queues add and subtract; there is no per-message allocation or timer.
 */
export type MemoryAlarmListener = (alarmed: boolean) => void;

export class MemoryGauge {
  /** Ready message bytes in every queue. */
  bytes = 0;
  #alarmed = false;
  readonly #listeners = new Set<MemoryAlarmListener>();

  /**
   * @param highWaterBytes Alarm above this many bytes; 0 disables the alarm.
   * @param lowWaterBytes Clear at or below this many bytes. @defaultValue half of `highWaterBytes`
   */
  constructor(
    readonly highWaterBytes = 0,
    readonly lowWaterBytes = Math.floor(highWaterBytes / 2),
  ) {}

  get alarmed(): boolean {
    return this.#alarmed;
  }

  add(n: number): void {
    this.bytes += n;
    if (!this.#alarmed && this.highWaterBytes > 0 && this.bytes > this.highWaterBytes) this.#set(true);
  }

  subtract(n: number): void {
    this.bytes -= n;
    if (this.#alarmed && this.bytes <= this.lowWaterBytes) this.#set(false);
  }

  onChange(listener: MemoryAlarmListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #set(alarmed: boolean): void {
    this.#alarmed = alarmed;
    for (const l of [...this.#listeners]) l(alarmed);
  }
}
