/**
 * The delivery journal: a small log beside the main one for what must survive a crash of the process but
 * is not worth an fsync on the delivery path. It is a core `DurableLog` with `fsync: 'never'`, so an
 * append resolves once its batch is written to the OS (one `write()` for every record of the batch, group
 * committed, no `fdatasync`): it survives SIGKILL, an OOM kill or an uncaught exception, not an OS crash or
 * power loss.
 *
 * STARTED records: before each HTTP attempt the engine writes `{seq, attempt}` and waits for that write
 * (not for a sync), then sends. If the process dies with the attempt in flight, recovery finds the marker
 * and the next attempt is numbered one higher. A marker lives until the attempt's outcome is durable in
 * the main log (its ATTEMPT record, or the request's ack), then it is acked; the next attempt's marker
 * replaces it.
 *
 *   attempt n: STARTED{n} written ─▶ HTTP call ─▶ outcome durable in the main log ─▶ STARTED{n} acked
 */
import { join } from 'node:path';
import { DurableLog, type Logger } from '@dispatcher/core';

export const JournalRecord = {
  Started: 1,
} as const;

/** Segment size of the journal: its records are small and short-lived, so small files are freed early. */
const JOURNAL_SEGMENT_BYTES = 4 * 1024 * 1024;

export class DeliveryJournal {
  readonly log: DurableLog;
  readonly #logger: Logger;
  /** Request seq → its latest STARTED marker (attempt number and the marker's own seq). */
  readonly #started = new Map<number, { attempt: number; rec: number }>();

  private constructor(log: DurableLog, logger: Logger) {
    this.log = log;
    this.#logger = logger;
  }

  /** Opens `<dir>/delivery-journal`. */
  static async open(dir: string, logger: Logger): Promise<DeliveryJournal> {
    const log = await DurableLog.open({
      dir: join(dir, 'delivery-journal'),
      fsync: { mode: 'never' },
      segmentMaxBytes: JOURNAL_SEGMENT_BYTES,
      logger,
    });
    return new DeliveryJournal(log, logger);
  }

  /**
   * Reads the journal (before any delivery starts): the highest attempt started per request seq. Superseded
   * markers are acked.
   */
  async recover(): Promise<Map<number, number>> {
    const stale: number[] = [];
    for await (const rec of this.log.live()) {
      if (rec.type !== JournalRecord.Started) continue;
      const { s, a } = JSON.parse(rec.body.toString()) as { s: number; a: number };
      const known = this.#started.get(s);
      if (known && known.attempt >= a) {
        stale.push(rec.seq);
        continue;
      }
      if (known) stale.push(known.rec);
      this.#started.set(s, { attempt: a, rec: rec.seq });
    }
    if (stale.length > 0) await this.log.ack(stale);
    return new Map([...this.#started].map(([seq, m]) => [seq, m.attempt]));
  }

  /** Acks the markers of requests that are no longer pending (after recovery). */
  async dropSettled(isPending: (seq: number) => boolean): Promise<void> {
    const stale: number[] = [];
    for (const [seq, m] of this.#started) {
      if (isPending(seq)) continue;
      stale.push(m.rec);
      this.#started.delete(seq);
    }
    if (stale.length > 0) await this.log.ack(stale);
  }

  /**
   * Records that attempt `attempt` of request `seq` is about to be sent; resolves once the marker is
   * written to the OS (no fsync), so a crash of the process from then on cannot lose it.
   */
  async started(seq: number, attempt: number): Promise<void> {
    const rec = await this.log.append(Buffer.from(`{"s":${seq},"a":${attempt}}`), {
      type: JournalRecord.Started,
    });
    const previous = this.#started.get(seq);
    this.#started.set(seq, { attempt, rec });
    if (previous) this.#ack(previous.rec);
  }

  /** The attempt's outcome is durable in the main log: its marker is no longer needed. */
  settle(seq: number): void {
    const marker = this.#started.get(seq);
    if (!marker) return;
    this.#started.delete(seq);
    this.#ack(marker.rec);
  }

  /** Background ack: a marker that outlives its use only makes recovery count an attempt that happened. */
  #ack(rec: number): void {
    this.log.ack(rec).catch((err: unknown) => {
      this.#logger.warn({ err, rec }, 'delivery journal ack failed');
    });
  }

  close(): Promise<void> {
    return this.log.close();
  }

  destroy(err?: Error): void {
    this.log.destroy(err);
  }
}
