import { describe, expect, it } from 'vitest';
import { bucketExpiresMs, delayBucketMs, MAX_BUCKET_MS, MAX_DELAY_MS } from './delay-queues.js';

describe('delayBucketMs', () => {
  it('rounds down to two significant digits, never later than asked', () => {
    expect(delayBucketMs(0)).toBe(1);
    expect(delayBucketMs(34)).toBe(34);
    expect(delayBucketMs(99.9)).toBe(99);
    expect(delayBucketMs(1_234)).toBe(1_200);
    expect(delayBucketMs(59_999)).toBe(59_000);
    expect(delayBucketMs(3_600_000)).toBe(3_600_000);
  });

  it('reaches any delay within a few hops and keeps the number of buckets bounded', () => {
    const buckets = new Set<number>();
    for (let delay = 1; delay < 200_000; delay += 7) {
      let remaining = delay;
      let hops = 0;
      while (remaining >= 5) {
        const bucket = delayBucketMs(remaining);
        expect(bucket).toBeLessThanOrEqual(remaining);
        buckets.add(bucket);
        remaining -= bucket;
        hops++;
      }
      expect(hops).toBeLessThanOrEqual(4);
    }
    // Two significant digits: at most 90 per decade.
    expect(buckets.size).toBeLessThan(100 + 90 * 4);
  });

  it('lets a bucket outlive the messages published at its last refresh', () => {
    for (const bucket of [1, 1_000, 3_600_000]) expect(bucketExpiresMs(bucket)).toBeGreaterThan(bucket * 2);
  });

  it('keeps every bucket within the TTL limits of RabbitMQ and of Node timers, whatever the delay', () => {
    // RabbitMQ refuses x-message-ttl and x-expires above 2^32-1 ms (406); a Node-based broker's timers
    // overflow above 2^31-1 ms.
    const timerLimit = 2 ** 31 - 1;
    expect(MAX_DELAY_MS).toBe(2 ** 32 - 1);
    for (const delay of [MAX_BUCKET_MS, MAX_BUCKET_MS + 1, MAX_DELAY_MS, 2 ** 33, 1e300, Infinity, NaN]) {
      const bucket = delayBucketMs(delay);
      expect(bucket).toBe(MAX_BUCKET_MS);
      expect(bucketExpiresMs(bucket)).toBeLessThanOrEqual(timerLimit);
    }
    // Below the cap, the buckets are what they always were (existing queues keep their arguments).
    expect(delayBucketMs(999_999_999)).toBe(990_000_000);
    expect(bucketExpiresMs(990_000_000)).toBe(990_000_000 * 2 + 60_000);
  });
});
