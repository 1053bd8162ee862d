import type { Channel } from 'amqplib';

/**
 * Delays without plugins: a message waits in a "bucket" queue whose `x-message-ttl` is the bucket's
 * delay; when it expires the broker dead-letters it to its destination (`x-dead-letter-exchange` +
 * `x-dead-letter-routing-key`). One TTL per queue keeps expiry in arrival order (per-message TTLs in one
 * queue would block behind a longer one at the head). Buckets round the delay *down* to two significant
 * digits (1234 ms → 1200 ms), so a message is never late; the worker sees the `x-dispatcher-not-before`
 * header and sends an early one round again for the rest (34 ms here), so any delay is honoured within a
 * few milliseconds through two or three hops while the number of distinct queues stays bounded
 * (at most 90 per decade). Idle buckets delete themselves (`x-expires`).
 */

/** Delays below this are not worth a hop through a bucket, in milliseconds. */
export const MIN_DELAY_MS = 5;

/**
 * The longest delay `publish()` takes (`delayMs`, `runAt`), in milliseconds: 2^32-1 (about 49.7 days),
 * RabbitMQ's limit on a queue's `x-message-ttl`. Longer ones are refused up front rather than parked
 * for months.
 */
export const MAX_DELAY_MS = 2 ** 32 - 1;

/**
 * The largest bucket, in milliseconds (about 11.6 days). A longer wait is taken in steps: the message
 * comes back early and the worker, seeing `x-dispatcher-not-before`, sends it round again for the rest.
 * Bounded so that `x-message-ttl` and `x-expires` (about twice the bucket) stay under 2^31-1 ms: RabbitMQ
 * refuses either above 2^32-1 ms with 406 (the worker would loop on the refused declaration), and a Node
 * timer above 2^31-1 ms fires at once, so a broker written in Node would expire the bucket, messages and
 * all, immediately.
 */
export const MAX_BUCKET_MS = 1_000_000_000;

/**
 * The bucket for `delayMs`: rounded down to two significant digits; at least 1 ms, at most
 * {@link MAX_BUCKET_MS} (also for a non-finite delay, which then takes the most steps rather than none).
 */
export function delayBucketMs(delayMs: number): number {
  if (!(delayMs <= MAX_BUCKET_MS)) return MAX_BUCKET_MS;
  const ms = Math.max(1, Math.floor(delayMs));
  if (ms < 100) return ms;
  const scale = 10 ** (Math.floor(Math.log10(ms)) - 1);
  return Math.floor(ms / scale) * scale;
}

/** `x-expires` of a bucket: long enough that a message published at the last refresh always expires first. */
export function bucketExpiresMs(bucketMs: number): number {
  return bucketMs * 2 + 60_000;
}

/** Where delayed messages go when their time has come. */
export interface DelayTarget {
  /** Exchange to dead-letter to (`''` is the default exchange, i.e. straight to a queue). */
  exchange: string;
  /** Routing key to dead-letter with (a queue name on the default exchange). */
  routingKey: string;
  /** Prefix of the bucket queue names; must identify the target. */
  prefix: string;
}

/** Declares (or refreshes) bucket queues on one channel, caching recent declarations. */
export class DelayQueues {
  readonly #declaredAt = new Map<string, number>();

  /** Declares the bucket for `delayMs` towards `target` and returns its name and delay. */
  async bucket(
    channel: Channel,
    target: DelayTarget,
    delayMs: number,
  ): Promise<{ queue: string; bucketMs: number }> {
    const bucketMs = delayBucketMs(delayMs);
    const queue = `${target.prefix}.delay.${bucketMs}`;
    const now = Date.now();
    const last = this.#declaredAt.get(queue);
    // Re-declaring resets the queue's expiry clock; do it well before x-expires could run out.
    if (last === undefined || now - last > (bucketExpiresMs(bucketMs) - bucketMs) / 2) {
      await channel.assertQueue(queue, {
        durable: true,
        autoDelete: false,
        arguments: {
          'x-message-ttl': bucketMs,
          'x-dead-letter-exchange': target.exchange,
          'x-dead-letter-routing-key': target.routingKey,
          'x-expires': bucketExpiresMs(bucketMs),
        },
      });
      this.#declaredAt.set(queue, now);
    }
    return { queue, bucketMs };
  }
}
