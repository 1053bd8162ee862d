/**
 * Payload of an ACK record: the acknowledged sequence numbers, ascending, as a varint count followed by
 * varint deltas. Acks of neighbouring records (the common case) cost one or two bytes each.
 */
export function encodeAckPayload(sortedSeqs: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(8 + sortedSeqs.length * 8);
  let pos = writeVarint(buf, 0, sortedSeqs.length);
  let prev = 0;
  for (const seq of sortedSeqs) {
    pos = writeVarint(buf, pos, seq - prev);
    prev = seq;
  }
  return buf.subarray(0, pos);
}

/** Decodes an ACK payload; returns undefined when it is malformed. */
export function decodeAckPayload(buf: Buffer): number[] | undefined {
  const out: number[] = [];
  let pos = 0;
  const count = readVarint(buf, pos);
  if (!count) return undefined;
  pos = count.next;
  let prev = 0;
  for (let i = 0; i < count.value; i++) {
    const d = readVarint(buf, pos);
    if (!d) return undefined;
    pos = d.next;
    prev += d.value;
    out.push(prev);
  }
  return pos === buf.length ? out : undefined;
}

function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}

function readVarint(buf: Buffer, pos: number): { value: number; next: number } | undefined {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 8 && pos < buf.length; i++) {
    const b = buf[pos++] as number;
    value += (b & 0x7f) * mul;
    if (b < 0x80) return Number.isSafeInteger(value) ? { value, next: pos } : undefined;
    mul *= 0x80;
  }
  return undefined;
}
