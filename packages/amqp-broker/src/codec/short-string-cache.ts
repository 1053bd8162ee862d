/**
 * Remembers the last short string decoded at one spot of a frame (a publisher's exchange, its routing
 * key): when the next frame carries the same bytes, the same string comes back without decoding or
 * allocating. Publishers mostly repeat themselves, so this hits almost always.
 */
export class ShortStringCache {
  #bytes: Buffer = Buffer.alloc(0);
  #value = '';

  /** The UTF-8 string of `buf[start, start + length)`. */
  get(buf: Buffer, start: number, length: number): string {
    const cached = this.#bytes;
    if (cached.length === length) {
      let i = 0;
      while (i < length && cached[i] === buf[start + i]) i++;
      if (i === length) return this.#value;
    }
    const copy = Buffer.allocUnsafe(length);
    buf.copy(copy, 0, start, start + length);
    this.#bytes = copy;
    this.#value = buf.toString('utf8', start, start + length);
    return this.#value;
  }
}
