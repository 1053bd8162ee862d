/**
 * The durable append-only log: the storage engine under the HTTP proxy and the broker's message store.
 *
 *   open() ──▶ open ──close()──▶ closing ──▶ closed
 *               ▲  │ a batch's write, fdatasync or truncate fails   ▲
 *   a write or  │  ▼                                                │
 *   probe works └─ open + writeError (appends still tried; ────────┘ destroy() from anywhere
 *                   probes and owed ACKs retried with backoff)
 *
 * Appends are framed into an in-memory batch and assigned a sequence number and file offset at once; one
 * writer at a time writes a whole batch and syncs it, then resolves every append in it (group commit).
 * Acknowledgements are ACK records written the same way. A segment whose records are all acknowledged is
 * deleted in the background; ACKs it holds for records of older, still present segments are first copied
 * forward, so no acknowledged record can come back after a restart.
 *
 * Failed writes (disk full, EIO, a short write, a failed fdatasync): every append of the failed batch and
 * of the batch queued behind it rejects with DSP_CORE_LOG_NO_SPACE or DSP_CORE_LOG_IO; the in-memory index
 * and the sequence counter roll back to the last durable record, and the bytes past it are truncated away
 * before anything else is written (at once when possible), so a rejected append never comes back at
 * recovery. Acknowledgements stay applied in memory and their ACK records are owed: written with the next
 * batch that succeeds. While writes fail the log probes the disk (a small write to a scratch file) with
 * backoff, so it reports itself writable again once space is freed even when nobody appends.
 *
 * fdatasync failure ("fsyncgate"): the kernel may have dropped the dirty pages it could not write and will
 * not report the error again, so the bytes of a batch whose sync failed are never trusted — they are cut
 * off and the file handle is reopened. Data synced before them was covered by an earlier successful
 * fdatasync, so the file is not poisoned and the log goes on (unlike PostgreSQL, which has no copy of the
 * data in hand and must crash to replay its WAL; here the rejected appends are the callers' to resend).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { throwIfAborted } from '../abort.js';
import { CoreError } from '../errors.js';
import { type Logger, noopLogger } from '../logger.js';
import { decodeAckPayload, encodeAckPayload } from './ack-codec.js';
import { DirectoryLock } from './directory-lock.js';
import { type DurableLogOptions, type ResolvedLogOptions, resolveLogOptions } from './durable-log-options.js';
import { type LatencySummary, LatencyWindow } from './latency-window.js';
import { type LogFileHandle, type LogFileSystem, nodeLogFileSystem } from './log-file-system.js';
import { type RecoveryReport, recoverLog } from './log-recovery.js';
import {
  FRAME_HEADER_BYTES,
  frameChecksumMatches,
  MAX_USER_RECORD_TYPE,
  RecordType,
  readFrameHeader,
  writeFrame,
} from './record-frame.js';
import { Segment, SlotState } from './segment.js';
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES, segmentFileName } from './segment-file.js';
import { scanSegment } from './segment-scanner.js';
import { findSegment } from './segment-search.js';
import { ShortWriteError, writeFailure } from './write-failure.js';

/** A record read back from the log. */
export interface LogRecord {
  seq: number;
  /** The caller's record type, 0..127. */
  type: number;
  body: Buffer;
}

/** One entry of the full history (event-sourcing mode). */
export type HistoryEntry =
  | { kind: 'record'; seq: number; type: number; body: Buffer; acked: boolean }
  | { kind: 'ack'; seq: number; acked: number[] };

export interface AppendOptions {
  /** The caller's record type, 0..127, returned by reads. @defaultValue 0 */
  type?: number;
}

export interface LogStats {
  segments: number;
  /** Bytes in segment files (written so far). */
  diskBytes: number;
  liveRecords: number;
  nextSeq: number;
  /**
   * Appends and acknowledgements not durable yet: queued for the next batch or in the batch being written.
   * Zero means every record and ACK handed to the log so far is on disk.
   */
  pendingRecords: number;
  /** Batches written since open (each one write per segment touched). */
  batches: number;
  /** fdatasync calls since open. */
  syncs: number;
  /** Batches whose write, sync or truncate failed since open. */
  failedBatches: number;
  /** Acknowledgements applied in memory whose ACK records are not durable yet (retried). */
  owedAcks: number;
  /** Bytes of the active segment allocated (zeros written and synced) ahead of its records. */
  preallocatedBytes: number;
  /** Time from a batch's first write to its durability (write + sync), over the recent batches. */
  commitLatency: LatencySummary;
}

interface Chunk {
  seg: Segment;
  buf: Buffer;
  len: number;
  /** Where in the file `buf[0]` goes. */
  filePos: number;
}

interface Batch {
  /** The sequence number the batch's first record gets (records are numbered in batch order). */
  firstSeq: number;
  chunks: Chunk[];
  records: number;
  bytes: number;
  lastSeq: number;
  ackSeqs: number[];
  /** Bytes to write to the probe file (a health check of the disk while writes fail); 0 = none. */
  probeBytes: number;
  done: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

type LogState = 'open' | 'closing' | 'closed';

const CHUNK_BYTES = 1024 * 1024;
const READ_WINDOW_BYTES = 256 * 1024;
const READ_WINDOWS = 4;

interface ReadWindow {
  seg: Segment;
  start: number;
  length: number;
  data: Promise<Buffer>;
}
// An ACK record holds at most this many sequence numbers, keeping it well under maxRecordBytes.
const MAX_ACKS_PER_RECORD = 65_536;
// While writes fail: first retry (probe or owed ACKs) after this long, doubling up to the maximum, so a
// freed disk is noticed within a second without spinning on a full one.
const RETRY_MIN_DELAY_MS = 20;
const RETRY_MAX_DELAY_MS = 1000;
const PROBE_MIN_BYTES = 64 * 1024;
const PROBE_MAX_BYTES = 1024 * 1024;
/** Scratch file of the disk probe; not a segment name, so recovery ignores it. */
const PROBE_FILE = 'write-probe.tmp';
// Pre-allocation: a new segment's first zeros come in small steps (its first batches wait for them),
// doubling up to `preallocateBytes`; after a failed zero write, none for this long.
const ZERO_MIN_STEP_BYTES = 64 * 1024;
const ZERO_PAUSE_MS = 1000;

export class DurableLog {
  readonly dir: string;
  /** What `open()` found and repaired. */
  readonly recovery: RecoveryReport;
  readonly #opts: ResolvedLogOptions;
  readonly #log: Logger;
  readonly #lock: DirectoryLock;
  readonly #segments: Segment[];
  #nextSeq: number;
  readonly #fs: LogFileSystem;
  #state: LogState = 'open';
  /** The last write failure, until a write or probe succeeds again. */
  #writeError: CoreError | undefined;
  #failedBatches = 0;
  /** Acknowledged in memory, ACK record not yet durable: goes out with the next batch. */
  #owedAcks: number[] = [];
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs = 0;
  /** Largest batch that failed since the log last wrote fine: a probe must get that much through. */
  #failedBytes = 0;
  /** Files of segments started by a failed batch: removed before the next write reuses their names. */
  #orphans: Array<{ path: string; fh: LogFileHandle | undefined }> = [];
  #pending: Batch | undefined;
  #inflight: Batch | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushImmediate: NodeJS.Immediate | undefined;
  #lastBatchRecords = 1;
  #writtenSeq: number;
  #spareBuffers: Buffer[] = [];
  #compaction: Promise<void> | undefined;
  #closePromise: Promise<void> | undefined;
  #windows: ReadWindow[] = [];
  #batchesWritten = 0;
  #syncs = 0;
  #zeros: Buffer | undefined;
  #zeroPausedUntil = 0;
  #zeroRetryTimer: NodeJS.Timeout | undefined;
  readonly #commitLatency = new LatencyWindow();

  private constructor(
    opts: ResolvedLogOptions,
    log: Logger,
    lock: DirectoryLock,
    segments: Segment[],
    nextSeq: number,
    recovery: RecoveryReport,
  ) {
    this.dir = opts.dir;
    this.#opts = opts;
    this.#fs = opts.fileSystem ?? nodeLogFileSystem;
    this.#log = log;
    this.#lock = lock;
    this.#segments = segments;
    this.#nextSeq = nextSeq;
    this.#writtenSeq = nextSeq - 1;
    this.recovery = recovery;
  }

  /** Opens (creating if needed) and recovers the log in `options.dir`. */
  static async open(options: DurableLogOptions): Promise<DurableLog> {
    const opts = resolveLogOptions(options);
    // `part`, not `component`: the owner's logger (broker, proxy) binds `component` already, and pino would
    // print the key twice.
    const log = (options.logger ?? noopLogger).child({ part: 'durable-log', dir: opts.dir });
    throwIfAborted(options.signal);
    await fsp.mkdir(opts.dir, { recursive: true });
    const lock = await DirectoryLock.acquire(opts.dir);
    try {
      const { segments, nextSeq, report } = await recoverLog(
        opts.dir,
        opts.maxRecordBytes,
        log,
        options.signal,
      );
      const active = segments.at(-1);
      const fs = opts.fileSystem ?? nodeLogFileSystem;
      if (active) active.fh = await fs.open(active.path, 'r+', writeOpenOptions(opts));
      await fs.rm(join(opts.dir, PROBE_FILE));
      const dlog = new DurableLog(opts, log, lock, segments, nextSeq, report);
      log.info(
        {
          segments: report.segments,
          records: report.records,
          live: report.liveRecords,
          ms: report.durationMs,
        },
        'log opened',
      );
      dlog.#maybeCompact();
      dlog.#maybePreallocate();
      return dlog;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  /**
   * Sequence number the next append will get. Records below it exist (or were acknowledged), so a scan
   * can stop there to ignore what is appended after it started.
   */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Number of records not yet acknowledged. */
  get liveCount(): number {
    let n = 0;
    for (const seg of this.#segments) n += seg.liveCount;
    return n;
  }

  /**
   * Appends one record; resolves with its sequence number once it is durable under the fsync policy.
   * Sequence numbers increase in append order.
   */
  append(body: Uint8Array, options: AppendOptions = {}): Promise<number> {
    return this.appendWith(() => body, options);
  }

  /**
   * Like `append()`, but the body is built synchronously by `build(seq)` once the record's sequence
   * number is known, so the body can carry it (e.g. an id that encodes where the record lives). If
   * `build` throws, nothing is appended and the promise rejects with its error.
   */
  appendWith(build: (seq: number) => Uint8Array, options: AppendOptions = {}): Promise<number> {
    const type = options.type ?? 0;
    let body: Uint8Array;
    try {
      this.#assertWritable();
      if (!Number.isInteger(type) || type < 0 || type > MAX_USER_RECORD_TYPE) {
        throw new CoreError(
          'DSP_CORE_INVALID_ARGUMENT',
          `record type must be 0..${MAX_USER_RECORD_TYPE}, got ${type}`,
        );
      }
      body = build(this.#nextSeq);
      if (!(body instanceof Uint8Array))
        throw new CoreError('DSP_CORE_INVALID_ARGUMENT', 'body must be a Uint8Array');
      if (body.length > this.#opts.maxRecordBytes) {
        throw new CoreError(
          'DSP_CORE_LOG_RECORD_TOO_LARGE',
          `record of ${body.length} bytes exceeds maxRecordBytes (${this.#opts.maxRecordBytes})`,
        );
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const batch = this.#batch();
    const seq = this.#frame(batch, type, body, SlotState.Live);
    this.#scheduleFlush(batch);
    return batch.done.then(() => seq);
  }

  /**
   * Acknowledges records: they leave the live set at once, and the tombstone is durable when the promise
   * resolves. Unknown or already acknowledged sequence numbers are ignored. Resolves with how many records
   * this call acknowledged.
   */
  ack(seqs: number | readonly number[]): Promise<number> {
    try {
      this.#assertWritable();
    } catch (err) {
      return Promise.reject(err);
    }
    const list = typeof seqs === 'number' ? [seqs] : seqs;
    const batch = this.#batch();
    let acked = 0;
    for (const seq of list) {
      const seg = findSegment(this.#segments, seq);
      if (seg?.ack(seq)) {
        batch.ackSeqs.push(seq);
        acked++;
      }
    }
    if (acked === 0) return Promise.resolve(0);
    this.#scheduleFlush(batch);
    return batch.done.then(() => acked);
  }

  /** True when `seq` is a live (unacknowledged) record. */
  has(seq: number): boolean {
    const seg = findSegment(this.#segments, seq);
    return seg !== undefined && seg.stateOf(seq) === SlotState.Live;
  }

  /** Reads a live record (in event-sourcing mode, an acknowledged one too). */
  async read(seq: number): Promise<LogRecord> {
    const seg = findSegment(this.#segments, seq);
    const state = seg?.stateOf(seq);
    const readable = state === SlotState.Live || (state === SlotState.Acked && this.#opts.retainHistory);
    if (!seg || !readable) {
      throw new CoreError('DSP_CORE_LOG_NOT_FOUND', `no live record with sequence ${seq}`, {
        details: { seq },
      });
    }
    if (seq > this.#writtenSeq) await this.flush();
    const offset = seg.offsetOf(seq);
    const end = seg.frameEndOf(seq);
    const window = this.#windowFor(seg, offset, end);
    const buf = await window.data;
    return this.#parseRecord(seg, buf, offset - window.start, seq);
  }

  /**
   * A read-ahead window holding [offset, end): reads in the same region (a backlog drained in order, by
   * many concurrent readers) share one large read instead of one small read each. Written bytes never
   * change, so a window stays valid until its segment is deleted.
   */
  #windowFor(seg: Segment, offset: number, end: number): ReadWindow {
    for (const w of this.#windows) {
      if (w.seg === seg && offset >= w.start && end <= w.start + w.length) return w;
    }
    const length = Math.min(Math.max(READ_WINDOW_BYTES, end - offset), Math.max(end, seg.fileSize) - offset);
    const window: ReadWindow = { seg, start: offset, length, data: this.#readRange(seg, offset, length) };
    // A failed read must not stay cached.
    window.data.catch(() => {
      const i = this.#windows.indexOf(window);
      if (i >= 0) this.#windows.splice(i, 1);
    });
    this.#windows.push(window);
    if (this.#windows.length > READ_WINDOWS) this.#windows.shift();
    return window;
  }

  /**
   * The live records in append order (from `fromSeq` on), read from disk in large sequential chunks.
   * Records appended after the iteration started are not included; records acknowledged meanwhile are
   * skipped.
   */
  async *live(options: { fromSeq?: number; signal?: AbortSignal } = {}): AsyncGenerator<LogRecord> {
    // A failed flush only means the newest records are not included: the scan stops at what was written.
    await this.flush().catch(() => {});
    const limit = this.#writtenSeq;
    const fromSeq = options.fromSeq ?? 0;
    for (const seg of [...this.#segments]) {
      if (seg.count === 0 || seg.lastSeq < fromSeq) continue;
      let winStart = 0;
      let win: Buffer = Buffer.alloc(0);
      for (let i = Math.max(0, fromSeq - seg.baseSeq); i < seg.count; i++) {
        const seq = seg.baseSeq + i;
        if (seq > limit) return;
        if (seg.states[i] !== SlotState.Live || seg.deleting) continue;
        throwIfAborted(options.signal);
        const offset = seg.offsets[i] as number;
        const end = seg.frameEndOf(seq);
        if (offset < winStart || end > winStart + win.length) {
          winStart = offset;
          const len = Math.min(Math.max(CHUNK_BYTES * 4, end - offset), seg.fileSize - offset);
          win = await this.#readRange(seg, offset, len);
        }
        const record = this.#parseRecord(seg, win, offset - winStart, seq);
        if (seg.states[i] === SlotState.Live) yield record;
      }
    }
  }

  /**
   * Every record ever written, in order, with ACK records as their own entries: the event-sourcing view.
   * Needs `retainHistory: true` (otherwise acknowledged history is deleted).
   */
  async *replay(options: { fromSeq?: number; signal?: AbortSignal } = {}): AsyncGenerator<HistoryEntry> {
    if (!this.#opts.retainHistory) {
      throw new CoreError('DSP_CORE_LOG_NO_HISTORY', 'replay() needs a log opened with retainHistory: true');
    }
    await this.flush().catch(() => {});
    const fromSeq = options.fromSeq ?? 0;
    const limit = this.#writtenSeq;
    for (const seg of [...this.#segments]) {
      if (seg.count === 0 || seg.lastSeq < fromSeq) continue;
      throwIfAborted(options.signal);
      const buf = await this.#readRange(seg, 0, seg.fileSize);
      const entries: HistoryEntry[] = [];
      scanSegment(buf, SEGMENT_HEADER_BYTES, seg.baseSeq, this.#opts.maxRecordBytes, (frame) => {
        if (frame.seq < fromSeq || frame.seq > limit || !seg.contains(frame.seq)) return;
        if (frame.type <= MAX_USER_RECORD_TYPE) {
          const acked = seg.stateOf(frame.seq) === SlotState.Acked;
          entries.push({
            kind: 'record',
            seq: frame.seq,
            type: frame.type,
            body: Buffer.from(frame.payload),
            acked,
          });
        } else if (frame.type === RecordType.Ack) {
          entries.push({ kind: 'ack', seq: frame.seq, acked: decodeAckPayload(frame.payload) ?? [] });
        }
      });
      yield* entries;
    }
  }

  /** Resolves once everything appended or acknowledged so far is durable. */
  async flush(): Promise<void> {
    const pending = this.#pending;
    const inflight = this.#inflight;
    if (pending) {
      this.#flushNow();
      await pending.done;
    } else if (inflight) {
      await inflight.done;
    }
  }

  stats(): LogStats {
    let diskBytes = 0;
    for (const seg of this.#segments) diskBytes += seg.fileSize;
    const active = this.#segments.at(-1);
    return {
      segments: this.#segments.length,
      diskBytes,
      liveRecords: this.liveCount,
      nextSeq: this.#nextSeq,
      // A queued batch frames its ACKs only when it is flushed, so they are counted apart.
      pendingRecords:
        (this.#pending ? this.#pending.records + this.#pending.ackSeqs.length : 0) +
        (this.#inflight?.records ?? 0),
      batches: this.#batchesWritten,
      syncs: this.#syncs,
      failedBatches: this.#failedBatches,
      owedAcks: this.#owedAcks.length,
      preallocatedBytes: Math.max(0, (active?.allocatedEnd ?? 0) - (active?.endOffset ?? 0)),
      commitLatency: this.#commitLatency.summary(),
    };
  }

  /**
   * The last write failure (`DSP_CORE_LOG_NO_SPACE` or `DSP_CORE_LOG_IO`) while the log cannot write, or
   * undefined when the last write or probe succeeded. Appends are still tried while it is set; a
   * readiness check can report it.
   */
  get writeError(): CoreError | undefined {
    return this.#writeError;
  }

  /** Stops intake, writes what is queued, waits for background deletion, closes files and the lock. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    this.#state = 'closing';
    this.#closePromise = (async () => {
      try {
        clearTimeout(this.#retryTimer);
        this.#retryTimer = undefined;
        await this.flush().catch(() => {});
        // One last try for ACKs owed by failed writes (and the tails they left).
        const tails = this.#orphans.length > 0 || this.#segments.some((s) => s.truncateTo !== undefined);
        if (this.#owedAcks.length > 0 || tails) {
          this.#batch();
          await this.flush().catch(() => {});
        }
        if (this.#owedAcks.length > 0) {
          this.#log.warn(
            { acks: this.#owedAcks.length, err: this.#writeError },
            'closing with acknowledgements not on disk: those records come back at the next open',
          );
        }
        while (this.#compaction) await this.#compaction;
        for (const seg of this.#segments) if (seg.zeroing) await seg.zeroing;
      } finally {
        this.#state = 'closed';
        clearTimeout(this.#retryTimer);
        clearTimeout(this.#zeroRetryTimer);
        for (const seg of this.#segments) {
          await seg.fh?.close().catch(() => {});
          seg.fh = undefined;
        }
        await this.#lock.release();
      }
    })();
    return this.#closePromise;
  }

  /** Closes at once: queued appends reject with `err` (or `DSP_CORE_CLOSED`). */
  destroy(err?: Error): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closePromise ??= Promise.resolve();
    clearTimeout(this.#flushTimer);
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#zeroRetryTimer);
    if (this.#flushImmediate) clearImmediate(this.#flushImmediate);
    const reason = err ?? new CoreError('DSP_CORE_CLOSED', 'the log was destroyed');
    this.#pending?.reject(reason);
    this.#pending = undefined;
    for (const seg of this.#segments) {
      seg.fh?.close().catch(() => {});
      seg.fh = undefined;
    }
    this.#lock.releaseSync();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertWritable(): void {
    if (this.#state !== 'open') throw new CoreError('DSP_CORE_CLOSED', `the log is ${this.#state}`);
  }

  #batch(): Batch {
    if (this.#pending) return this.#pending;
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Internal batches (ACK copies) may have no caller waiting: never an unhandled rejection.
    done.catch(() => {});
    this.#pending = {
      firstSeq: this.#nextSeq,
      chunks: [],
      records: 0,
      bytes: 0,
      lastSeq: 0,
      ackSeqs: [],
      probeBytes: 0,
      done,
      resolve,
      reject,
    };
    return this.#pending;
  }

  /** Frames one record into `batch`, assigning its sequence number and offset. */
  #frame(batch: Batch, type: number, payload: Uint8Array, state: SlotState): number {
    const seq = this.#nextSeq++;
    const frameLen = FRAME_HEADER_BYTES + payload.length;
    const chunk = this.#chunkFor(batch, seq, frameLen);
    const seg = chunk.seg;
    const offset = seg.endOffset;
    writeFrame(chunk.buf, chunk.len, type, seq, payload);
    chunk.len += frameLen;
    seg.endOffset += frameLen;
    seg.push(offset, state);
    batch.records++;
    batch.bytes += frameLen;
    batch.lastSeq = seq;
    return seq;
  }

  #chunkFor(batch: Batch, seq: number, frameLen: number): Chunk {
    let seg = this.#segments.at(-1);
    if (!seg || (seg.count > 0 && seg.endOffset + frameLen > this.#opts.segmentMaxBytes)) {
      seg = new Segment(seq, join(this.dir, segmentFileName(seq)), SEGMENT_HEADER_BYTES, false);
      this.#segments.push(seg);
    }
    let chunk = batch.chunks.at(-1);
    if (!chunk || chunk.seg !== seg) {
      chunk = { seg, buf: this.#takeBuffer(frameLen + SEGMENT_HEADER_BYTES), len: 0, filePos: seg.endOffset };
      if (!seg.created && seg.count === 0) {
        // A new file: its header goes out with its first records.
        encodeSegmentHeader(seg.baseSeq).copy(chunk.buf, 0);
        chunk.len = SEGMENT_HEADER_BYTES;
        chunk.filePos = 0;
      }
      batch.chunks.push(chunk);
    } else if (chunk.len + frameLen > chunk.buf.length) {
      const bigger = this.#takeBuffer(Math.max(chunk.buf.length * 2, chunk.len + frameLen));
      chunk.buf.copy(bigger, 0, 0, chunk.len);
      this.#spareBuffers.push(chunk.buf);
      chunk.buf = bigger;
    }
    return chunk;
  }

  #takeBuffer(minBytes: number): Buffer {
    const spare = this.#spareBuffers.pop();
    if (spare && spare.length >= minBytes) return spare;
    return Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, minBytes));
  }

  #scheduleFlush(batch: Batch): void {
    if (this.#inflight) return; // the writer picks the batch up when it finishes
    const policy = this.#opts.fsync;
    if (policy.mode === 'batch' && policy.maxDelayMs > 0 && this.#lastBatchRecords > 1) {
      const full = batch.records >= this.#lastBatchRecords || batch.bytes >= policy.maxBatchBytes;
      if (!full) {
        this.#flushTimer ??= setTimeout(() => this.#flushNow(), policy.maxDelayMs);
        return;
      }
    }
    // setImmediate rather than a microtask: appends made by the continuations of the last batch's
    // promises all land in this batch first.
    this.#flushImmediate ??= setImmediate(() => this.#flushNow());
  }

  #flushNow(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#flushImmediate) clearImmediate(this.#flushImmediate);
    this.#flushImmediate = undefined;
    const batch = this.#pending;
    if (this.#inflight || !batch) return;
    this.#pending = undefined;
    if (this.#owedAcks.length > 0) {
      batch.ackSeqs.push(...this.#owedAcks);
      this.#owedAcks = [];
    }
    this.#frameAcks(batch);
    this.#inflight = batch;
    this.#writeBatch(batch).then(
      () => {
        this.#inflight = undefined;
        this.#lastBatchRecords = Math.max(1, batch.records);
        // Writable again once as much went through as failed (up to the probe's size): a few bytes of ACKs
        // landing in a partly used block do not mean a full disk takes requests again.
        if (this.#writeError && batch.bytes + batch.probeBytes >= this.#probeSize()) this.#writable();
        batch.resolve();
        this.#maybeCompact();
        this.#maybePreallocate();
        if (this.#pending) this.#scheduleFlush(this.#pending);
      },
      (err: unknown) => this.#failBatch(batch, err),
    );
  }

  /**
   * A batch failed: roll the index back to the last durable record, keep the ACKs owed, cut the file
   * (before anyone hears of the failure, so a crash right after cannot revive a rejected append), then
   * reject the batch and the one queued behind it (numbered after the failed records), and start retrying.
   * The writer stays busy until then: appends made meanwhile wait for the next batch.
   */
  async #failBatch(batch: Batch, err: unknown): Promise<void> {
    const error = CoreError.isInstance(err) ? (err as CoreError) : writeFailure(err, 'write');
    const queued = this.#pending;
    this.#pending = undefined;
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#flushImmediate) clearImmediate(this.#flushImmediate);
    this.#flushImmediate = undefined;
    this.#failedBatches++;
    this.#failedBytes = Math.max(this.#failedBytes, batch.bytes + (queued?.bytes ?? 0));
    const first = batch.firstSeq;
    for (const b of queued ? [batch, queued] : [batch]) {
      for (const s of b.ackSeqs) if (s < first) this.#owedAcks.push(s);
    }
    this.#rollBackTo(first);
    await this.#cutTails().catch(() => {});
    this.#inflight = undefined;
    if (!this.#writeError) {
      this.#log.error(
        { err: error, code: error.code, rejectedBytes: batch.bytes + (queued?.bytes ?? 0) },
        'log write failed: appends rejected until the disk takes writes again',
      );
    }
    this.#writeError = error;
    batch.reject(error);
    queued?.reject(error);
    if (this.#state === 'open') this.#scheduleRetry();
    if (this.#pending) this.#scheduleFlush(this.#pending);
  }

  /** Forgets every record from `firstSeq` on, so the next batch reuses their numbers and offsets. */
  #rollBackTo(firstSeq: number): void {
    while (this.#segments.length > 0) {
      const seg = this.#segments.at(-1) as Segment;
      if (seg.baseSeq < firstSeq) break;
      // A segment started by the failed batch: never durable, its file (if opened) goes.
      this.#segments.pop();
      this.#windows = this.#windows.filter((w) => w.seg !== seg);
      if (seg.fh || seg.created) this.#orphans.push({ path: seg.path, fh: seg.fh });
      seg.fh = undefined;
    }
    const seg = this.#segments.at(-1);
    if (seg?.contains(firstSeq)) {
      const cut = seg.offsetOf(firstSeq);
      seg.dropFrom(firstSeq - seg.baseSeq);
      seg.endOffset = cut;
      seg.fileSize = Math.min(seg.fileSize, cut);
      seg.truncateTo = cut;
      this.#windows = this.#windows.filter((w) => w.seg !== seg);
    }
    this.#nextSeq = firstSeq;
    this.#writtenSeq = Math.min(this.#writtenSeq, firstSeq - 1);
  }

  #probeSize(): number {
    return Math.min(PROBE_MAX_BYTES, Math.max(PROBE_MIN_BYTES, this.#failedBytes));
  }

  #writable(): void {
    this.#log.info({ failedBatches: this.#failedBatches, err: this.#writeError }, 'log writable again');
    this.#writeError = undefined;
    this.#failedBytes = 0;
    this.#retryDelayMs = 0;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    // Pre-allocation's own retry timer does nothing while a write error stands: resume it here.
    this.#maybePreallocate();
  }

  /**
   * While writes fail, a timer retries with backoff: owed ACKs and cut tails go out with a batch of their
   * own, or, with nothing owed, a probe write tells whether the disk takes writes again.
   */
  #scheduleRetry(): void {
    if (this.#retryTimer) return;
    const delayMs = this.#retryDelayMs;
    this.#retryDelayMs = Math.min(RETRY_MAX_DELAY_MS, Math.max(RETRY_MIN_DELAY_MS, delayMs * 2));
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#state !== 'open' || !this.#writeError) return;
      // Owed ACKs and tails to cut go out with the probe; records others append go with it too.
      const batch = this.#inflight ? undefined : this.#batch();
      if (batch) {
        batch.probeBytes = this.#probeSize();
        this.#flushNow();
      }
      // A batch written by someone else meanwhile settles it; otherwise look again later.
      if (this.#writeError) this.#scheduleRetry();
    }, delayMs);
    this.#retryTimer.unref();
  }

  /** Turns the batch's acknowledged sequence numbers into ACK records at its end. */
  #frameAcks(batch: Batch): void {
    if (batch.ackSeqs.length === 0) return;
    const seqs = batch.ackSeqs.sort((a, b) => a - b);
    for (let i = 0; i < seqs.length; i += MAX_ACKS_PER_RECORD) {
      const part = seqs.slice(i, i + MAX_ACKS_PER_RECORD);
      this.#frame(batch, RecordType.Ack, encodeAckPayload(part), SlotState.Internal);
      const seg = this.#segments.at(-1) as Segment;
      for (const s of part) if (s < seg.baseSeq) seg.crossAcks.push(s);
    }
  }

  async #writeBatch(batch: Batch): Promise<void> {
    const sync = this.#opts.fsync.mode !== 'never';
    await this.#cutTails();
    if (batch.probeBytes > 0) await this.#probe(batch.probeBytes, sync);
    const started = performance.now();
    let newFile = false;
    for (const chunk of batch.chunks) {
      const seg = chunk.seg;
      if (!seg.fh) {
        seg.fh = await step(
          'open',
          this.#fs.open(seg.path, seg.created ? 'r+' : 'wx+', writeOpenOptions(this.#opts)),
        );
        newFile ||= !seg.created;
      }
      // Zeros being written where these bytes go must land first, never over them.
      if (seg.zeroing && chunk.filePos + chunk.len > seg.zeroFrom) await seg.zeroing;
      await writeFully(seg.fh, chunk.buf, chunk.len, chunk.filePos);
      seg.fileSize = Math.max(seg.fileSize, chunk.filePos + chunk.len);
      if (chunk.buf.length <= CHUNK_BYTES * 4 && this.#spareBuffers.length < 4)
        this.#spareBuffers.push(chunk.buf);
    }
    this.#writtenSeq = Math.max(this.#writtenSeq, batch.lastSeq);
    this.#batchesWritten++;
    if (sync) {
      for (const chunk of batch.chunks) {
        const fh = chunk.seg.fh;
        // With O_DSYNC the write was the sync.
        if (fh && this.#opts.syncMethod === 'fdatasync') await step('fdatasync', fh.datasync());
        this.#syncs++;
      }
      if (newFile) await step('directory sync', this.#syncDir());
      for (const chunk of batch.chunks)
        chunk.seg.allocatedEnd = Math.max(chunk.seg.allocatedEnd, chunk.seg.fileSize);
      if (batch.chunks.length > 0) this.#commitLatency.add(performance.now() - started);
    }
    for (const chunk of batch.chunks) chunk.seg.created = true;
    // A rolled-over segment is written no more: its file handle is only needed for reads now.
  }

  /**
   * Starts writing zeros ahead of the active segment's records when fewer than `preallocateBytes` are
   * left, so batches overwrite allocated space. Only past everything framed so far: a batch framed later
   * that reaches the zeroed range waits for it (`#writeBatch`), so zeros never land on records.
   */
  #maybePreallocate(): void {
    const ahead = this.#opts.preallocateBytes;
    if (ahead === 0 || this.#opts.fsync.mode === 'never' || this.#state !== 'open') return;
    if (this.#writeError || Date.now() < this.#zeroPausedUntil) return;
    const seg = this.#segments.at(-1);
    if (!seg?.fh || !seg.created || seg.zeroing || seg.truncateTo !== undefined) return;
    const from = Math.max(seg.allocatedEnd, seg.endOffset, seg.fileSize);
    const limit = this.#opts.segmentMaxBytes;
    if (seg.allocatedEnd - seg.endOffset >= ahead || from >= limit) return;
    const bytes = Math.min(limit - from, ahead, Math.max(ZERO_MIN_STEP_BYTES, from));
    seg.zeroFrom = from;
    seg.zeroing = this.#zeroFill(seg, from, bytes).finally(() => {
      seg.zeroing = undefined;
      seg.zeroFrom = Number.POSITIVE_INFINITY;
      this.#maybePreallocate();
    });
  }

  /**
   * Writes and syncs `bytes` zeros at `from`; a failure only pauses pre-allocation (never rejects). Through
   * a handle of its own without O_DSYNC: one large write and one fdatasync rather than a long synchronous
   * write (an O_DSYNC batch write syncs only its own range, so it does not wait for these pages).
   */
  async #zeroFill(seg: Segment, from: number, bytes: number): Promise<void> {
    if (!this.#zeros || this.#zeros.length < bytes) this.#zeros = Buffer.alloc(this.#opts.preallocateBytes);
    let fh: LogFileHandle | undefined;
    try {
      fh = await step('pre-allocation open', this.#fs.open(seg.path, 'r+'));
      await writeFully(fh, this.#zeros, bytes, from);
      await step('pre-allocation fdatasync', fh.datasync());
      if (seg.truncateTo === undefined) seg.allocatedEnd = Math.max(seg.allocatedEnd, from + bytes);
    } catch (err) {
      // Whatever part of the zeros landed is harmless (recovery reads zeros as the end); appends just
      // extend the file again, and write errors are theirs to report.
      this.#zeroPausedUntil = Date.now() + ZERO_PAUSE_MS;
      clearTimeout(this.#zeroRetryTimer);
      this.#zeroRetryTimer = setTimeout(() => this.#maybePreallocate(), ZERO_PAUSE_MS);
      this.#zeroRetryTimer.unref();
      this.#log.warn({ err, file: seg.path, offset: from, bytes }, 'pre-allocation of log space failed');
    } finally {
      await fh?.close().catch(() => {});
    }
  }

  /** Cuts off what failed batches left past the last durable record, durably, before new bytes go out. */
  async #cutTails(): Promise<void> {
    while (this.#orphans.length > 0) {
      const orphan = this.#orphans[0] as { path: string; fh: LogFileHandle | undefined };
      await orphan.fh?.close().catch(() => {});
      orphan.fh = undefined;
      await step('remove', this.#fs.rm(orphan.path));
      this.#orphans.shift();
    }
    for (const seg of this.#segments) {
      const length = seg.truncateTo;
      if (length === undefined) continue;
      if (seg.zeroing) await seg.zeroing;
      seg.fh ??= await step('open', this.#fs.open(seg.path, 'r+', writeOpenOptions(this.#opts)));
      await step('truncate', seg.fh.truncate(length));
      // fsync, not fdatasync: the file's new size is what must not be lost.
      await step('truncate sync', seg.fh.sync());
      seg.fileSize = length;
      seg.allocatedEnd = Math.min(seg.allocatedEnd, length);
      if (seg.truncateTo === length) seg.truncateTo = undefined;
    }
  }

  /** Writes (and syncs) `bytes` to a scratch file and removes it: does the disk take writes again? */
  async #probe(bytes: number, sync: boolean): Promise<void> {
    const path = join(this.dir, PROBE_FILE);
    await this.#fs.rm(path).catch(() => {});
    const fh = await step('probe open', this.#fs.open(path, 'wx+'));
    try {
      await writeFully(fh, Buffer.alloc(bytes, 0xa5), bytes, 0);
      if (sync) await step('probe fdatasync', fh.datasync());
    } finally {
      await fh.close().catch(() => {});
      await this.#fs.rm(path).catch(() => {});
    }
  }

  async #syncDir(): Promise<void> {
    const dh = await this.#fs.open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  async #readRange(seg: Segment, offset: number, length: number): Promise<Buffer> {
    seg.readers++;
    try {
      seg.fh ??= await this.#fs.open(seg.path, 'r');
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await seg.fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    } finally {
      seg.readers--;
    }
  }

  #parseRecord(seg: Segment, buf: Buffer, pos: number, seq: number): LogRecord {
    const ok = buf.length - pos >= FRAME_HEADER_BYTES;
    const header = ok ? readFrameHeader(buf, pos) : undefined;
    if (
      !header ||
      header.seq !== seq ||
      pos + FRAME_HEADER_BYTES + header.length > buf.length ||
      !frameChecksumMatches(buf, pos, header)
    ) {
      throw new CoreError('DSP_CORE_LOG_CORRUPT', `record ${seq} in ${seg.path} failed its checksum`, {
        details: { seq, file: seg.path, offset: seg.offsetOf(seq) },
      });
    }
    const start = pos + FRAME_HEADER_BYTES;
    return { seq, type: header.type, body: Buffer.from(buf.subarray(start, start + header.length)) };
  }

  /** Starts background deletion of fully acknowledged segments, unless one is running. */
  #maybeCompact(): void {
    if (this.#opts.retainHistory || this.#compaction || this.#state !== 'open') return;
    if (!this.#segments.some((seg, i) => this.#deletable(seg, i))) return;
    this.#compaction = this.#compact().then(
      () => {
        this.#compaction = undefined;
        // Segments that became deletable while this pass ran (a roll, an ack) get their own pass.
        this.#maybeCompact();
      },
      (err: unknown) => {
        this.#compaction = undefined;
        this.#log.error({ err }, 'segment deletion failed; will retry after the next write');
      },
    );
  }

  #deletable(seg: Segment, index: number): boolean {
    return index < this.#segments.length - 1 && seg.liveCount === 0 && seg.created && !seg.deleting;
  }

  async #compact(): Promise<void> {
    for (let i = 0; i < this.#segments.length - 1; i++) {
      const seg = this.#segments[i] as Segment;
      if (!this.#deletable(seg, i) || this.#state !== 'open') continue;
      // ACKs here for records of older segments that still exist must outlive this file.
      const needed = seg.crossAcks.filter((s) => {
        const target = findSegment(this.#segments, s);
        return target !== undefined && target !== seg;
      });
      if (needed.length > 0) {
        const batch = this.#batch();
        batch.ackSeqs.push(...needed);
        this.#scheduleFlush(batch);
        await batch.done;
      }
      seg.deleting = true;
      while (seg.readers > 0) await new Promise((resolve) => setTimeout(resolve, 1));
      if (seg.zeroing) await seg.zeroing;
      await seg.fh?.close();
      seg.fh = undefined;
      this.#windows = this.#windows.filter((w) => w.seg !== seg);
      await this.#fs.rm(seg.path);
      // The unlink must be durable before the ACKs that only mattered for this file can go too.
      await this.#syncDir();
      this.#segments.splice(this.#segments.indexOf(seg), 1);
      i--;
      this.#log.debug({ file: seg.path, records: seg.count }, 'deleted a fully acknowledged segment');
    }
  }
}

/** How segment files are opened for writing: with O_DSYNC when that is how batches are made durable. */
function writeOpenOptions(opts: ResolvedLogOptions): { dsync: boolean } {
  return { dsync: opts.syncMethod === 'dsync' && opts.fsync.mode !== 'never' };
}

/** Awaits one step of a write, turning its failure into the log's coded error. */
async function step<T>(name: string, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (err) {
    throw writeFailure(err, name);
  }
}

/** Writes all of `length` bytes: a short write is continued, one that stores nothing means a full disk. */
async function writeFully(fh: LogFileHandle, buf: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    let written: number;
    try {
      ({ bytesWritten: written } = await fh.write(buf, done, length - done, position + done));
    } catch (err) {
      throw writeFailure(err, 'write');
    }
    if (written <= 0) throw writeFailure(new ShortWriteError(done, length), 'write');
    done += written;
  }
}
