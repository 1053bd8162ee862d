/**
 * Min-heap of (due time, sequence number, destination index) in parallel typed arrays: scheduled and
 * retrying messages cost 20 bytes each. Ties on due time pop in sequence order, so equal-time messages
 * keep their acceptance order.
 */
export class DueHeap {
  #due = new Float64Array(64);
  #seq = new Float64Array(64);
  #dest = new Uint32Array(64);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Due time of the earliest entry. */
  peekDue(): number | undefined {
    return this.#size > 0 ? this.#due[0] : undefined;
  }

  push(due: number, seq: number, dest: number): void {
    if (this.#size === this.#due.length) this.#grow();
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(due, seq, this.#due[parent] as number, this.#seq[parent] as number)) break;
      this.#move(parent, i);
      i = parent;
    }
    this.#due[i] = due;
    this.#seq[i] = seq;
    this.#dest[i] = dest;
  }

  /** Removes the earliest entry. */
  pop(): { due: number; seq: number; dest: number } | undefined {
    if (this.#size === 0) return undefined;
    const top = { due: this.#due[0] as number, seq: this.#seq[0] as number, dest: this.#dest[0] as number };
    const last = --this.#size;
    if (last > 0) {
      const due = this.#due[last] as number;
      const seq = this.#seq[last] as number;
      const dest = this.#dest[last] as number;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= last) break;
        const r = l + 1;
        const c =
          r < last &&
          this.#less(
            this.#due[r] as number,
            this.#seq[r] as number,
            this.#due[l] as number,
            this.#seq[l] as number,
          )
            ? r
            : l;
        if (!this.#less(this.#due[c] as number, this.#seq[c] as number, due, seq)) break;
        this.#move(c, i);
        i = c;
      }
      this.#due[i] = due;
      this.#seq[i] = seq;
      this.#dest[i] = dest;
    }
    return top;
  }

  #less(dueA: number, seqA: number, dueB: number, seqB: number): boolean {
    return dueA < dueB || (dueA === dueB && seqA < seqB);
  }

  #move(from: number, to: number): void {
    this.#due[to] = this.#due[from] as number;
    this.#seq[to] = this.#seq[from] as number;
    this.#dest[to] = this.#dest[from] as number;
  }

  #grow(): void {
    const n = this.#due.length * 2;
    const due = new Float64Array(n);
    due.set(this.#due);
    const seq = new Float64Array(n);
    seq.set(this.#seq);
    const dest = new Uint32Array(n);
    dest.set(this.#dest);
    this.#due = due;
    this.#seq = seq;
    this.#dest = dest;
  }
}
