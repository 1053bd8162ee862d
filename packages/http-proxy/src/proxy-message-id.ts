/**
 * Message ids of the proxy: UUIDv7-shaped (time-ordered, RFC 9562 version and variant bits) with the
 * record's log sequence number in the last 40 bits. An id alone says where its message lives, so status
 * look-ups need no id index in memory, even with millions of messages queued.
 *
 *   48 bits ms time | ver 7 | 12 random | var 10 | 22 random | 40 bits sequence number
 */
import { randomFillSync } from 'node:crypto';

const SEQ_LIMIT = 2 ** 40;
// One crypto call per 682 ids instead of one per id: randomFillSync has a fixed cost per call.
const pool = Buffer.alloc(4092);
let poolPos = pool.length;

export function proxyMessageId(seq: number, now: number): string {
  if (!Number.isSafeInteger(seq) || seq < 0 || seq >= SEQ_LIMIT)
    throw new RangeError(`sequence ${seq} out of range`);
  if (poolPos + 6 > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const random = pool.subarray(poolPos, poolPos + 6);
  poolPos += 6;
  const b = Buffer.alloc(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = 0x70 | ((random[0] as number) & 0x0f);
  b[7] = random[1] as number;
  b[8] = 0x80 | ((random[2] as number) & 0x3f);
  b[9] = random[3] as number;
  b[10] = random[4] as number;
  b.writeUIntBE(seq, 11, 5);
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The sequence number inside a proxy message id, or undefined when `id` is not one. */
export function seqOfMessageId(id: string): number | undefined {
  if (!ID.test(id)) return undefined;
  return Number.parseInt(id.slice(26), 16);
}
