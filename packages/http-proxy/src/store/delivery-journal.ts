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
 *
 * DELIVERED records: `{id, at, attempts, status}` of the newest `maxDeliveredIds` deliveries, so that a
 * status look-up answers `delivered` after a restart too. Written when the request's ack is (not awaited);
 * acked when a newer delivery evicts it from the bounded index. A crash can lose the last few (those not
 * yet written); the request then is delivered again anyway (its ack was not written either, at least not
 * in the same write: the two logs are written independently).
 */
import { join } from 'node:path';
import { DurableLog, type Logger } from '@dispatcher/core';
import { CappedMap } from '../capped-map.js';
import { isStorageFailure } from './storage-failure.js';

export const JournalRecord = {
  Started: 1,
  Delivered: 2,
} as const;

/** What a status look-up reports of a delivered message. */
export interface DeliveredInfo {
  /** Epoch ms. */
  at: number;
  attempts: number;
  /** HTTP status of the delivery. */
  status?: number;
}

/** Segment size of the journal: its records are small and short-lived, so small files are freed early. */
const JOURNAL_SEGMENT_BYTES = 4 * 1024 * 1024;

export class DeliveryJournal {
  readonly log: DurableLog;
  readonly #logger: Logger;
  /** Request seq → its latest STARTED marker (attempt number and the marker's own seq). */
  readonly #started = new Map<number, { attempt: number; rec: number }>();
  /** Delivered id → what was delivered, and the DELIVERED record's seq (acked on eviction). */
  readonly #delivered: CappedMap<string, DeliveredInfo & { rec: number }>;

  private constructor(log: DurableLog, maxDeliveredIds: number, logger: Logger) {
    this.log = log;
    this.#logger = logger;
    this.#delivered = new CappedMap(maxDeliveredIds, (_id, entry) => this.#ack(entry.rec));
  }

  /** Opens `<dir>/delivery-journal`. `maxDeliveredIds`: see `ProxyStoreOptions`. */
  static async open(dir: string, maxDeliveredIds: number, logger: Logger): Promise<DeliveryJournal> {
    const log = await DurableLog.open({
      dir: join(dir, 'delivery-journal'),
      fsync: { mode: 'never' },
      segmentMaxBytes: JOURNAL_SEGMENT_BYTES,
      logger,
    });
    return new DeliveryJournal(log, maxDeliveredIds, logger);
  }

  /**
   * Reads the journal (before any delivery starts): the highest attempt started per request seq. Superseded
   * markers are acked.
   */
  async recover(): Promise<Map<number, number>> {
    const stale: number[] = [];
    for await (const rec of this.log.live()) {
      if (rec.type === JournalRecord.Delivered) {
        const { i, ...info } = JSON.parse(rec.body.toString()) as DeliveredInfo & { i: string };
        this.#setDelivered(i, { ...info, rec: rec.seq });
        continue;
      }
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
    if (stale.length > 0) await this.#ackNow(stale);
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
    if (stale.length > 0) await this.#ackNow(stale);
  }

  /** ACKs that cannot be written yet (disk full) stay applied; the log writes them when it can. */
  async #ackNow(seqs: number[]): Promise<void> {
    await this.log.ack(seqs).catch((err: unknown) => {
      if (!isStorageFailure(err)) throw err;
      this.#logger.warn({ err, count: seqs.length }, 'delivery journal ack not on disk yet');
    });
  }

  /**
   * Records that attempt `attempt` of request `seq` is about to be sent; resolves once the marker is
   * written to the OS (no fsync), so a crash of the process from then on cannot lose it.
   */
  async started(seq: number, attempt: number): Promise<void> {
    let rec: number;
    try {
      rec = await this.log.append(Buffer.from(`{"s":${seq},"a":${attempt}}`), {
        type: JournalRecord.Started,
      });
    } catch (err) {
      if (!isStorageFailure(err)) throw err;
      // A full disk must not stop deliveries (delivered requests let segments go and free space): the
      // attempt goes out unrecorded, and only a crash before the disk recovers can repeat its number.
      this.#logger.warn({ err, seq, attempt }, 'attempt marker not written (store cannot write)');
      return;
    }
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

  /** Remembers a delivery (written in the background: see the module header). */
  delivered(id: string, info: DeliveredInfo): void {
    this.log.append(Buffer.from(JSON.stringify({ i: id, ...info })), { type: JournalRecord.Delivered }).then(
      (rec) => this.#setDelivered(id, { ...info, rec }),
      (err: unknown) => this.#logger.warn({ err, id }, 'delivery journal write failed'),
    );
  }

  deliveredInfo(id: string): DeliveredInfo | undefined {
    const entry = this.#delivered.get(id);
    if (!entry) return undefined;
    const { rec: _rec, ...info } = entry;
    return info;
  }

  /** The same id delivered again (a duplicate after a crash, a redriven copy): the newer record stays. */
  #setDelivered(id: string, entry: DeliveredInfo & { rec: number }): void {
    const previous = this.#delivered.get(id);
    this.#delivered.set(id, entry);
    if (previous) this.#ack(previous.rec);
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
