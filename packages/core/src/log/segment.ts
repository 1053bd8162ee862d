/**
 * In-memory index of one segment file. Sequence numbers in a segment are contiguous from `baseSeq`, so
 * the index is two typed arrays indexed by `seq - baseSeq`: 5 bytes a record, bodies stay on disk.
 */
import type { LogFileHandle } from './log-file-system.js';

/** State of one slot. */
export const SlotState = {
  /** A caller's record not yet acknowledged. */
  Live: 0,
  /** A caller's record that was acknowledged. */
  Acked: 1,
  /** One of the log's own records (ACK). */
  Internal: 2,
  /** Lost to corruption or a torn write; nothing to read. */
  Missing: 3,
} as const;
export type SlotState = (typeof SlotState)[keyof typeof SlotState];

const INITIAL_SLOTS = 1024;

export class Segment {
  offsets = new Uint32Array(INITIAL_SLOTS);
  states = new Uint8Array(INITIAL_SLOTS);
  /** Slots used: seqs baseSeq .. baseSeq + count - 1. */
  count = 0;
  liveCount = 0;
  /** Bytes the file will have once everything queued is written (header included). */
  endOffset: number;
  /** Bytes known to be in the file. */
  fileSize: number;
  /** Sequence numbers acknowledged by ACK records in this file that belong to older segments. */
  crossAcks: number[] = [];
  fh: LogFileHandle | undefined;
  /**
   * Set after a failed write: the file may hold bytes past this offset that were never durable (a torn or
   * rejected batch). They are cut off before anything else is written to the file.
   */
  truncateTo: number | undefined;
  /** Reads in flight; the file is not closed under them. */
  readers = 0;
  deleting = false;
  /** The file exists on disk (its creation was fsync'd into the directory). */
  created: boolean;
  /**
   * Bytes of the file known durably allocated (data, or zeros written ahead and synced): a write below
   * this offset changes no file size, so its fdatasync has no metadata to commit.
   */
  allocatedEnd: number;
  /** Zeros being written ahead from `zeroFrom` on; a data write reaching that far waits for them. */
  zeroing: Promise<void> | undefined;
  zeroFrom = Number.POSITIVE_INFINITY;

  constructor(
    readonly baseSeq: number,
    readonly path: string,
    headerBytes: number,
    created: boolean,
  ) {
    this.endOffset = headerBytes;
    this.fileSize = created ? headerBytes : 0;
    this.created = created;
    this.allocatedEnd = this.fileSize;
  }

  get lastSeq(): number {
    return this.baseSeq + this.count - 1;
  }

  contains(seq: number): boolean {
    return seq >= this.baseSeq && seq < this.baseSeq + this.count;
  }

  push(offset: number, state: SlotState): void {
    if (this.count === this.offsets.length) this.grow();
    this.offsets[this.count] = offset;
    this.states[this.count] = state;
    this.count++;
    if (state === SlotState.Live) this.liveCount++;
  }

  /** Forgets the slots from `count` on (records of a batch that failed to write). */
  dropFrom(count: number): void {
    for (let i = count; i < this.count; i++) if (this.states[i] === SlotState.Live) this.liveCount--;
    this.count = Math.min(this.count, count);
  }

  /** Marks slots up to `seq` (exclusive) that were never seen as missing. */
  padTo(seq: number): void {
    while (this.baseSeq + this.count < seq) this.push(0, SlotState.Missing);
  }

  stateOf(seq: number): SlotState {
    return this.states[seq - this.baseSeq] as SlotState;
  }

  /** Marks a live record acknowledged; returns false when it was not live. */
  ack(seq: number): boolean {
    const i = seq - this.baseSeq;
    if (this.states[i] !== SlotState.Live) return false;
    this.states[i] = SlotState.Acked;
    this.liveCount--;
    return true;
  }

  offsetOf(seq: number): number {
    return this.offsets[seq - this.baseSeq] as number;
  }

  /** Where the frame of `seq` ends at the latest: the next present slot's offset, or the end of file. */
  frameEndOf(seq: number): number {
    for (let i = seq - this.baseSeq + 1; i < this.count; i++) {
      if (this.states[i] !== SlotState.Missing) return this.offsets[i] as number;
    }
    return this.endOffset;
  }

  private grow(): void {
    const offsets = new Uint32Array(this.offsets.length * 2);
    offsets.set(this.offsets);
    this.offsets = offsets;
    const states = new Uint8Array(this.states.length * 2);
    states.set(this.states);
    this.states = states;
  }
}
