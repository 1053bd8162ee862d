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
  /** Highest `bytes` since the gauge was created or {@link resetPeak} was called. */
  peakBytes = 0;
  #alarmed = false;
  readonly #listeners = new Set<MemoryAlarmListener>();
  /** {@link tripAbove}: bytes above which `#onTrip` is called once. */
  #tripAt = Number.POSITIVE_INFINITY;
  #onTrip: (() => void) | undefined;

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
    if (this.bytes > this.peakBytes) this.peakBytes = this.bytes;
    if (!this.#alarmed && this.highWaterBytes > 0 && this.bytes > this.highWaterBytes) this.#set(true);
    if (this.bytes > this.#tripAt) this.#trip();
  }

  /**
   * Calls `onTrip` once, as soon as the count exceeds `limitBytes` (replacing any earlier tripwire): the
   * process memory monitor checks at once when the bytes added since its last reading would take the
   * process past its watermark, instead of waiting for its next poll.
   */
  tripAbove(limitBytes: number, onTrip: () => void): void {
    this.#tripAt = limitBytes;
    this.#onTrip = onTrip;
    if (this.bytes > limitBytes) this.#trip();
  }

  /** Starts a new peak from the current count. */
  resetPeak(): void {
    this.peakBytes = this.bytes;
  }

  /** Removes the {@link tripAbove} tripwire. */
  disarmTrip(): void {
    this.#tripAt = Number.POSITIVE_INFINITY;
    this.#onTrip = undefined;
  }

  subtract(n: number): void {
    this.bytes -= n;
    if (this.#alarmed && this.bytes <= this.lowWaterBytes) this.#set(false);
  }

  onChange(listener: MemoryAlarmListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #trip(): void {
    const onTrip = this.#onTrip;
    this.disarmTrip();
    onTrip?.();
  }

  #set(alarmed: boolean): void {
    this.#alarmed = alarmed;
    for (const l of [...this.#listeners]) l(alarmed);
  }
}
