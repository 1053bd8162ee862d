/**
 * The broker's message store: persistent messages routed to durable queues, on core's `DurableLog`
 * (group commit, crash recovery, disk-full handling). A message is stored once whatever the number of
 * queues it reached; each queue releases it when done (ack, drop, expiry, dead-lettering, purge, delete),
 * and the record leaves the log when the last one has. A queue that is done while others still hold the
 * message writes a REMOVED mark; a first delivery writes a DELIVERED mark (so the message comes back
 * `redelivered` after a restart). See `message-record.ts` for the formats.
 *
 *   persist() ──▶ pending ──write+fdatasync──▶ durable ──release() by every holder──▶ acked (gone)
 *                   │ disk full / I/O error
 *                   └──▶ failed (publisher gets basic.nack; the message stays in memory only)
 */
import { DurableLog, type FsyncPolicy, type Logger, noopLogger, type RecoveryReport } from '@dispatcher/core';
import { ByteWriter } from '../codec/byte-writer.js';
import { Message } from '../queue/message.js';
import {
  decodeQueueMark,
  decodeStoredMessage,
  encodeQueueMark,
  encodeStoredMessage,
  type StoredMessage,
  StoreRecord,
} from './message-record.js';
import { StoredRef } from './stored-ref.js';

export interface MessageStoreOptions {
  /** Directory of the message log. */
  dir: string;
  /** When a message counts as durable. @defaultValue batch, 2 ms */
  fsync?: FsyncPolicy;
  /** Segment size of the log, in bytes. @defaultValue 64 MiB */
  segmentMaxBytes?: number;
  /**
   * Bytes of ready message bodies each durable queue keeps in memory; past it, stored messages are
   * paged out (bodies only on disk) and read back as consumers catch up. 0: never page.
   * @defaultValue {@link MESSAGE_STORE_DEFAULTS}.pageWindowBytes (4 MiB)
   */
  pageWindowBytes?: number;
  /** Decode the field tables of messages read back with the specification's type codes. @defaultValue false */
  strict?: boolean;
  logger?: Logger;
}

export const MESSAGE_STORE_DEFAULTS = {
  pageWindowBytes: 4 * 1024 * 1024,
} as const;

const DURABLE: Promise<void> = Promise.resolve();

/** A message found by recovery, with the queues that still hold it. */
export interface RecoveredMessage {
  ref: StoredRef;
  message: StoredMessage;
  /** Durable queues still holding it, in the order it was routed. */
  queues: string[];
}

export class MessageStore {
  readonly log: DurableLog;
  readonly #logger: Logger;
  /** Records are encoded here and copied into the log's batch at once: no buffer per message. */
  readonly #writer = new ByteWriter(64 * 1024);
  /** {@link MessageStoreOptions.pageWindowBytes}. */
  readonly pageWindowBytes: number;
  readonly #strict: boolean;
  /**
   * Sequence numbers to acknowledge, handed to the log together once the current synchronous work is done:
   * a drain releases one message per consumer ack, and a `log.ack` call per message (an array and two
   * promises living until the fdatasync) was a large share of the garbage a drain makes. They reach the
   * same group commit either way.
   */
  #acks: number[] = [];
  #acksQueued = false;

  private constructor(log: DurableLog, logger: Logger, options: MessageStoreOptions) {
    this.log = log;
    this.#logger = logger;
    this.pageWindowBytes = options.pageWindowBytes ?? MESSAGE_STORE_DEFAULTS.pageWindowBytes;
    this.#strict = options.strict ?? false;
  }

  static async open(options: MessageStoreOptions): Promise<MessageStore> {
    const logger = (options.logger ?? noopLogger).child({ store: 'messages' });
    const log = await DurableLog.open({
      dir: options.dir,
      logger,
      ...(options.fsync ? { fsync: options.fsync } : {}),
      ...(options.segmentMaxBytes ? { segmentMaxBytes: options.segmentMaxBytes } : {}),
    });
    return new MessageStore(log, logger, options);
  }

  get recovery(): RecoveryReport {
    return this.log.recovery;
  }

  /**
   * Reads the store back in publish order: every message some queue still holds. Marks of messages that
   * are gone and messages no queue holds are acked. Two passes: marks are small and gathered first, so
   * bodies are read once, as they are handed out.
   */
  async *recover(): AsyncGenerator<RecoveredMessage> {
    const removed = new Map<number, { queues: string[]; delivered: string[]; marks: number[] }>();
    const stale: number[] = [];
    for await (const rec of this.log.live()) {
      if (rec.type !== StoreRecord.Removed && rec.type !== StoreRecord.Delivered) continue;
      let mark: ReturnType<typeof decodeQueueMark>;
      try {
        mark = decodeQueueMark(rec.body);
      } catch (err) {
        this.#logger.error({ err, seq: rec.seq }, 'skipped an unreadable store record');
        continue;
      }
      let entry = removed.get(mark.messageSeq);
      if (entry === undefined) {
        entry = { queues: [], delivered: [], marks: [] };
        removed.set(mark.messageSeq, entry);
      }
      (rec.type === StoreRecord.Removed ? entry.queues : entry.delivered).push(mark.queue);
      entry.marks.push(rec.seq);
    }
    const found = new Set<number>();
    for await (const rec of this.log.live()) {
      if (rec.type !== StoreRecord.Message) continue;
      let message: StoredMessage;
      try {
        message = decodeStoredMessage(rec.body);
      } catch (err) {
        // Left in the log for inspection; recovery goes on with the rest.
        this.#logger.error({ err, seq: rec.seq }, 'skipped an undecodable stored message');
        continue;
      }
      found.add(rec.seq);
      const marks = removed.get(rec.seq);
      const queues = marks ? message.queues.filter((q) => !marks.queues.includes(q)) : message.queues;
      if (queues.length === 0) {
        stale.push(rec.seq, ...(marks?.marks ?? []));
        continue;
      }
      const ref = new StoredRef(rec.seq, queues.length, Promise.resolve());
      ref.state = 'durable';
      if (marks) {
        ref.marks = marks.marks;
        if (marks.delivered.length > 0) ref.delivered = marks.delivered;
      }
      yield { ref, message, queues };
    }
    for (const [seq, entry] of removed) if (!found.has(seq)) stale.push(...entry.marks);
    if (stale.length > 0) await this.log.ack(stale).catch((err: unknown) => this.#ackFailed(err));
  }

  /** Stores a message for the durable queues it reached; the ref's `durable` says when it is on disk. */
  persist(message: StoredMessage): StoredRef {
    let seq = 0;
    const written = this.log.appendWith(
      (s) => {
        seq = s;
        return encodeStoredMessage(message, this.#writer);
      },
      { type: StoreRecord.Message },
    );
    // A huge message must not leave a huge scratch buffer behind.
    if (this.#writer.buf.length > 1 << 20) this.#writer.take();
    const ref = new StoredRef(
      seq,
      message.queues.length,
      written.then(
        () => {
          ref.state = 'durable';
        },
        (err: unknown) => {
          // Its sequence number may be reused after the log rolled back: never ack it from now on.
          ref.state = 'failed';
          throw err;
        },
      ),
    );
    if (seq === 0) ref.state = 'failed'; // the append was refused before it got a number (closed log)
    // Whoever waits (a confirm) sees the error; nobody waiting is fine too.
    ref.durable.catch(() => {});
    return ref;
  }

  /**
   * Reads paged-out messages back (each held by one queue, never delivered): in the order given, each a
   * new message whose stored copy is durable; undefined for one that cannot be read (logged and removed
   * from the log — a message is never handed out twice from a corrupt record).
   */
  load(seqs: readonly number[]): Promise<(Message | undefined)[]> {
    // The log serves neighbouring records from one read-ahead window: a batch costs a few large reads.
    return Promise.all(seqs.map((seq) => this.#loadOne(seq)));
  }

  async #loadOne(seq: number): Promise<Message | undefined> {
    try {
      const m = decodeStoredMessage((await this.log.read(seq)).body);
      const message = new Message(m.exchange, m.routingKey, m.rawProperties, m.body, this.#strict);
      const ref = new StoredRef(seq, 1, DURABLE);
      ref.state = 'durable';
      message.stored = ref;
      return message;
    } catch (err) {
      this.#logger.error({ err, seq }, 'a paged-out message could not be read back: dropped');
      this.#ack(seq);
      return undefined;
    }
  }

  /** Paged-out messages (one holder each) that their queue is done with. */
  releasePaged(seqs: readonly number[]): void {
    for (const seq of seqs) this.#ack(seq);
  }

  /** `queue` handed the message to a consumer for the first time. */
  delivered(ref: StoredRef, queue: string): void {
    if (ref.state === 'failed' || ref.delivered?.includes(queue)) return;
    if (ref.delivered === undefined) ref.delivered = [queue];
    else ref.delivered.push(queue);
    this.#mark(ref, StoreRecord.Delivered, queue);
  }

  /** `queue` is done with the message; the last holder removes it from the log. */
  release(ref: StoredRef, queue: string): void {
    if (ref.holders <= 0) return;
    ref.holders--;
    if (ref.state === 'failed') return;
    if (ref.holders === 0) {
      this.#ack(ref.seq);
      if (ref.marks !== undefined) for (const mark of ref.marks) this.#ack(mark);
      ref.marks = undefined;
      return;
    }
    this.#mark(ref, StoreRecord.Removed, queue);
  }

  #mark(ref: StoredRef, type: number, queue: string): void {
    this.log.append(encodeQueueMark({ messageSeq: ref.seq, queue }), { type }).then(
      (markSeq) => {
        // The message may have left meanwhile: then the mark goes at once (not batched, so whoever awaited
        // flush() sees it gone).
        if (ref.holders === 0 || ref.state === 'failed') {
          this.log.ack(markSeq).catch((err: unknown) => this.#ackFailed(err));
        } else if (ref.marks === undefined) ref.marks = [markSeq];
        else ref.marks.push(markSeq);
      },
      (err: unknown) => this.#logger.warn({ err, seq: ref.seq, queue }, 'store mark not written'),
    );
  }

  /** Queues `seq` for {@link MessageStore.#flushAcks}, run once the current synchronous work is done. */
  #ack(seq: number): void {
    this.#acks.push(seq);
    if (this.#acksQueued) return;
    this.#acksQueued = true;
    queueMicrotask(this.#flushAcks);
  }

  readonly #flushAcks = (): void => {
    this.#acksQueued = false;
    if (this.#acks.length === 0) return;
    const seqs = this.#acks;
    this.#acks = [];
    this.log.ack(seqs).catch((err: unknown) => this.#ackFailed(err));
  };

  #ackFailed(err: unknown): void {
    // The log keeps an ACK it could not write and writes it later (disk full); only a crash before then
    // brings the message back, as an unacknowledged one.
    this.#logger.warn({ err }, 'store acknowledgement not on disk yet');
  }

  flush(): Promise<void> {
    this.#flushAcks();
    return this.log.flush();
  }

  close(): Promise<void> {
    this.#flushAcks();
    return this.log.close();
  }

  destroy(err?: Error): void {
    this.#acks = [];
    this.log.destroy(err);
  }
}
