/**
 * The ready messages of a queue whose bodies are only on disk (paged out): per message 28 bytes in typed
 * arrays — where the record is in the message log, the queue position, the deadline and the body size —
 * instead of a message object, a queue entry and a body. A FIFO of fixed-size chunks: push at the back,
 * shift at the front, a chunk is dropped once read, so memory follows the backlog both ways.
 */
const CHUNK = 4096;

class Chunk {
  readonly logSeq = new Float64Array(CHUNK);
  readonly queueSeq = new Float64Array(CHUNK);
  readonly expiresAt = new Float64Array(CHUNK);
  readonly size = new Uint32Array(CHUNK);
}

/** One paged-out message (a plain record, filled in by {@link PagedIndex.shift}). */
export interface PagedRef {
  /** Sequence number of its record in the message log. */
  logSeq: number;
  /** Its position in the queue (`QueueEntry.seq`). */
  queueSeq: number;
  /** `QueueEntry.expiresAt`: epoch milliseconds, 0 when it never expires. */
  expiresAt: number;
  /** Body size, in bytes. */
  size: number;
}

export class PagedIndex {
  #chunks: Chunk[] = [];
  /** Index of the first message in `#chunks[0]`. */
  #head = 0;
  /** Index after the last message in the last chunk. */
  #tail = CHUNK;
  #length = 0;
  #bytes = 0;

  get length(): number {
    return this.#length;
  }

  /** Sum of the body sizes. */
  get bytes(): number {
    return this.#bytes;
  }

  push(logSeq: number, queueSeq: number, expiresAt: number, size: number): void {
    if (this.#tail === CHUNK) {
      this.#chunks.push(new Chunk());
      this.#tail = 0;
    }
    const c = this.#chunks[this.#chunks.length - 1]!;
    const i = this.#tail++;
    c.logSeq[i] = logSeq;
    c.queueSeq[i] = queueSeq;
    c.expiresAt[i] = expiresAt;
    c.size[i] = size;
    this.#length++;
    this.#bytes += size;
  }

  /** Removes the first message into `into`; false when empty. */
  shift(into: PagedRef): boolean {
    if (this.#length === 0) return false;
    const c = this.#chunks[0]!;
    const i = this.#head++;
    into.logSeq = c.logSeq[i]!;
    into.queueSeq = c.queueSeq[i]!;
    into.expiresAt = c.expiresAt[i]!;
    into.size = c.size[i]!;
    this.#length--;
    this.#bytes -= into.size;
    if (this.#length === 0) this.clear();
    else if (this.#head === CHUNK) {
      this.#chunks.shift();
      this.#head = 0;
    }
    return true;
  }

  /** Body size of the first message (0 when empty). */
  peekSize(): number {
    return this.#length === 0 ? 0 : this.#chunks[0]!.size[this.#head]!;
  }

  /** Calls `fn` with the log sequence number of every message, front to back. */
  forEachLogSeq(fn: (logSeq: number) => void): void {
    let remaining = this.#length;
    for (let k = 0; k < this.#chunks.length && remaining > 0; k++) {
      const c = this.#chunks[k]!;
      const start = k === 0 ? this.#head : 0;
      for (let i = start; i < CHUNK && remaining > 0; i++, remaining--) fn(c.logSeq[i]!);
    }
  }

  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#tail = CHUNK;
    this.#length = 0;
    this.#bytes = 0;
  }
}
