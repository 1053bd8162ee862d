/**
 * A `Map` with a size cap: once a new key would pass `cap` entries, the oldest entry (in insertion order;
 * `set()` of a present key makes it the newest) is evicted and handed to `onEvict`. For id and key indexes
 * that callers can grow without limit (idempotency keys, dead-letter ids, delivered ids).
 */
export class CappedMap<K, V> {
  readonly #map = new Map<K, V>();
  readonly #onEvict: ((key: K, value: V) => void) | undefined;

  /**
   * @param cap - most entries kept, an integer ≥ 1
   * @param onEvict - called for each entry the cap evicts (not for `delete()` or a replaced value)
   */
  constructor(
    readonly cap: number,
    onEvict?: (key: K, value: V) => void,
  ) {
    if (!Number.isSafeInteger(cap) || cap < 1)
      throw new RangeError(`cap must be an integer >= 1, got ${cap}`);
    this.#onEvict = onEvict;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  /** Sets `key` as the newest entry, evicting the oldest ones past the cap. */
  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.cap) {
      const [oldestKey, oldestValue] = this.#map.entries().next().value as [K, V];
      this.#map.delete(oldestKey);
      this.#onEvict?.(oldestKey, oldestValue);
    }
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  /** Entries, oldest first. */
  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }
}
