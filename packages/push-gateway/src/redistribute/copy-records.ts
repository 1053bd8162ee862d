import type { Redis } from 'ioredis';

interface Waiting {
  readonly key: string;
  readonly field: string;
  readonly value: string;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * The redistributor's de-duplication records (`HSET <message key> <subscription id> <value>` + `EXPIRE`).
 * Each copy is recorded as soon as it is made, but the copies of one message (and of messages handled side by
 * side) complete in the same tick: their records leave together in one pipeline on the next tick instead of one
 * round trip each. Each caller still learns whether its own record was written.
 */
export class CopyRecords {
  readonly #redis: Redis;
  readonly #ttlSec: number;
  #batch: Waiting[] = [];

  constructor(redis: Redis, ttlSec: number) {
    this.#redis = redis;
    this.#ttlSec = ttlSec;
  }

  /** Fields already recorded for `key`. */
  async recorded(key: string): Promise<Set<string>> {
    return new Set(await this.#redis.hkeys(key));
  }

  /** Records `field = value` under `key` (and refreshes its TTL); resolves once Redis has it. */
  record(key: string, field: string, value: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#batch.length === 0) process.nextTick(() => this.#flush());
      this.#batch.push({ key, field, value, resolve, reject });
    });
  }

  #flush(): void {
    const batch = this.#batch;
    this.#batch = [];
    const pipeline = this.#redis.pipeline();
    const keys = new Set<string>();
    for (const w of batch) {
      pipeline.hset(w.key, w.field, w.value);
      keys.add(w.key);
    }
    for (const key of keys) pipeline.expire(key, this.#ttlSec);
    pipeline.exec().then(
      (results) => {
        batch.forEach((w, i) => {
          const err = results?.[i]?.[0];
          if (err) w.reject(err);
          else w.resolve();
        });
      },
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        for (const w of batch) w.reject(e);
      },
    );
  }
}
