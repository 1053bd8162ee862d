/**
 * FIFO of sequence numbers in a growable ring of doubles: 8 bytes a queued message, whatever the backlog,
 * instead of an object per message.
 */
export class SeqQueue {
  #buf = new Float64Array(64);
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(seq: number): void {
    if (this.#size === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#size) % this.#buf.length] = seq;
    this.#size++;
  }

  /** Puts a sequence number back at the front (a delivery that could not start). */
  unshift(seq: number): void {
    if (this.#size === this.#buf.length) this.#grow();
    this.#head = (this.#head - 1 + this.#buf.length) % this.#buf.length;
    this.#buf[this.#head] = seq;
    this.#size++;
  }

  shift(): number | undefined {
    if (this.#size === 0) return undefined;
    const seq = this.#buf[this.#head] as number;
    this.#head = (this.#head + 1) % this.#buf.length;
    this.#size--;
    return seq;
  }

  *[Symbol.iterator](): IterableIterator<number> {
    for (let i = 0; i < this.#size; i++) yield this.#buf[(this.#head + i) % this.#buf.length] as number;
  }

  #grow(): void {
    const next = new Float64Array(this.#buf.length * 2);
    for (let i = 0; i < this.#size; i++) next[i] = this.#buf[(this.#head + i) % this.#buf.length] as number;
    this.#buf = next;
    this.#head = 0;
  }
}
