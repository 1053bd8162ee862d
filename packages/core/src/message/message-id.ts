import { randomFillSync } from 'node:crypto';

/**
 * Time-ordered message ids (UUID version 7, RFC 9562): ids sort by creation time, which keeps logs,
 * admin listings and de-duplication tables in a useful order. Within one millisecond a counter in the
 * random bits keeps ids from one process strictly increasing.
 */
// One crypto call per 409 ids: randomFillSync has a fixed cost per call that dominated id creation.
const pool = Buffer.alloc(4090);
let poolPos = pool.length;
const bytes = Buffer.alloc(16);
let lastMs = -1;
let seq = 0;

export function newMessageId(now: number = Date.now()): string {
  if (poolPos + 10 > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const random = pool.subarray(poolPos, poolPos + 10);
  poolPos += 10;
  if (now <= lastMs) {
    // Same (or earlier: clock step back) millisecond: reuse the last time and bump a 12-bit counter.
    now = lastMs;
    seq = (seq + 1) & 0xfff;
    if (seq === 0) now = ++lastMs;
  } else {
    lastMs = now;
    seq = random.readUInt16BE(0) & 0x7ff; // start low so the counter has room to grow
  }
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | (seq >> 8);
  bytes[7] = seq & 0xff;
  bytes[8] = 0x80 | ((random[2] ?? 0) & 0x3f);
  random.copy(bytes, 9, 3, 10);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
