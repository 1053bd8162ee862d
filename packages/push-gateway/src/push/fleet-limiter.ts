import type { Redis } from 'ioredis';

// Drop expired leases, then take one if fewer than the cap are held. KEYS[1] zset; ARGV cap, now, expiry, lease.
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], 600000)
  return 1
end
return 0`;

/**
 * Fleet-wide cap of concurrent pushes per subscriber, shared by every gateway instance through a Redis sorted
 * set of leases. A lease expires by itself (`leaseMs`) so a killed instance does not hold slots forever.
 */
export class FleetLimiter {
  readonly #redis: Redis;
  readonly #prefix: string;
  #seq = 0;
  readonly #instance = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  constructor(redis: Redis, keyPrefix = 'medispatcher:') {
    this.#redis = redis;
    this.#prefix = keyPrefix;
  }

  /** Waits for a slot (polling every 20 ms); resolves the release function. */
  async acquire(
    subscriberId: number,
    cap: number,
    leaseMs: number,
    signal?: AbortSignal,
  ): Promise<() => Promise<void>> {
    const key = `${this.#prefix}fleet:${subscriberId}`;
    const lease = `${this.#instance}:${++this.#seq}`;
    for (;;) {
      signal?.throwIfAborted();
      const now = Date.now();
      const got = await this.#redis.eval(ACQUIRE, 1, key, cap, now, now + leaseMs, lease);
      if (Number(got) === 1)
        return async () => {
          await this.#redis.zrem(key, lease);
        };
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
