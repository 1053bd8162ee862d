/**
 * The ready messages of one queue (or one priority level of a priority queue), in queue order: a ring
 * buffer (power-of-two capacity, grown and shrunk by copying), so push and shift are O(1) without the
 * array copies a moving-head array needs to compact, and an entry can be put back at the front in O(1).
 *
 * Requeued entries go back to the position their sequence number gives them (binary search); the
 * elements on the shorter side of that position move by one. Requeueing a batch in descending sequence
 * order ({@link Queue.requeue} does) makes every insert land at or next to the head, whatever the depth.
 */
import type { QueueEntry } from './queue-entry.js';

const MIN_CAPACITY = 16;

export class ReadyList {
  #buf: (QueueEntry | undefined)[] = new Array<QueueEntry | undefined>(MIN_CAPACITY);
  #mask = MIN_CAPACITY - 1;
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  peek(): QueueEntry | undefined {
    return this.#length === 0 ? undefined : this.#buf[this.#head];
  }

  /** The entry at position `i` from the head (0 ≤ i < length). */
  at(i: number): QueueEntry | undefined {
    return i >= 0 && i < this.#length ? this.#buf[(this.#head + i) & this.#mask] : undefined;
  }

  push(entry: QueueEntry): void {
    if (this.#length > this.#mask) this.#resize((this.#mask + 1) * 2);
    this.#buf[(this.#head + this.#length) & this.#mask] = entry;
    this.#length++;
  }

  shift(): QueueEntry | undefined {
    if (this.#length === 0) return undefined;
    const buf = this.#buf;
    const entry = buf[this.#head];
    buf[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#length--;
    // Give memory back after a large backlog drained (amortised: only at a quarter of the capacity).
    if (this.#mask >= 4 * MIN_CAPACITY && this.#length < (this.#mask + 1) >>> 2) {
      this.#resize((this.#mask + 1) >>> 1);
    }
    return entry;
  }

  /** Puts an entry back at the position its sequence number gives it. */
  insertBySeq(entry: QueueEntry): void {
    const n = this.#length;
    const buf = this.#buf;
    const seq = entry.seq;
    // Common cases first: before the head (requeue) or after the tail.
    let pos: number;
    if (n === 0 || buf[this.#head]!.seq > seq) pos = 0;
    else if (buf[(this.#head + n - 1) & this.#mask]!.seq < seq) pos = n;
    else {
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (buf[(this.#head + mid) & this.#mask]!.seq < seq) lo = mid + 1;
        else hi = mid;
      }
      pos = lo;
    }
    this.#insertAt(pos, entry);
  }

  /** Removes every entry. */
  clear(): void {
    this.#buf = new Array<QueueEntry | undefined>(MIN_CAPACITY);
    this.#mask = MIN_CAPACITY - 1;
    this.#head = 0;
    this.#length = 0;
  }

  #insertAt(pos: number, entry: QueueEntry): void {
    if (this.#length > this.#mask) this.#resize((this.#mask + 1) * 2);
    const buf = this.#buf;
    const mask = this.#mask;
    const head = this.#head;
    const n = this.#length;
    if (pos < n - pos) {
      // Move the `pos` entries before it one slot towards the front.
      const newHead = (head - 1) & mask;
      for (let i = 0; i < pos; i++) buf[(newHead + i) & mask] = buf[(head + i) & mask];
      buf[(newHead + pos) & mask] = entry;
      this.#head = newHead;
    } else {
      // Move the entries from `pos` on one slot towards the back.
      for (let i = n; i > pos; i--) buf[(head + i) & mask] = buf[(head + i - 1) & mask];
      buf[(head + pos) & mask] = entry;
    }
    this.#length = n + 1;
  }

  #resize(capacity: number): void {
    const next = new Array<QueueEntry | undefined>(capacity);
    const buf = this.#buf;
    const mask = this.#mask;
    for (let i = 0; i < this.#length; i++) next[i] = buf[(this.#head + i) & mask];
    this.#buf = next;
    this.#mask = capacity - 1;
    this.#head = 0;
  }
}
