/**
 * The ready messages of one queue (or one priority level of a priority queue), in queue order: an array
 * with a moving head, so shift is O(1) and requeued entries go back to their original position by binary
 * search on their sequence number.
 */
import type { QueueEntry } from './queue-entry.js';

export class ReadyList {
  #items: QueueEntry[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  peek(): QueueEntry | undefined {
    return this.#head < this.#items.length ? this.#items[this.#head] : undefined;
  }

  push(entry: QueueEntry): void {
    this.#items.push(entry);
  }

  shift(): QueueEntry | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const entry = this.#items[this.#head]!;
    this.#items[this.#head] = undefined as unknown as QueueEntry;
    this.#head++;
    this.#compact();
    return entry;
  }

  /** Puts an entry back at the position its sequence number gives it. */
  insertBySeq(entry: QueueEntry): void {
    const items = this.#items;
    let lo = this.#head;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (items[mid]!.seq < entry.seq) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.#head && this.#head > 0) {
      this.#head--;
      items[this.#head] = entry;
    } else {
      items.splice(lo, 0, entry);
    }
  }

  /** Removes every entry. */
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
