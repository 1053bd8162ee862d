/**
 * A segment file is a 16-byte header followed by frames:
 *
 *   0 "DSPLOG\0" magic (7 bytes) | 7 u8 format version | 8 u64 LE sequence number of its first record
 *
 * Files are named after that first sequence number, zero-padded so names sort in log order.
 */
export const SEGMENT_HEADER_BYTES = 16;
export const SEGMENT_FORMAT_VERSION = 1;
const MAGIC = Buffer.from('DSPLOG\0', 'latin1');
const SUFFIX = '.seg';
const NAME = /^(\d{20})\.seg$/;

export function segmentFileName(baseSeq: number): string {
  return `${String(baseSeq).padStart(20, '0')}${SUFFIX}`;
}

/** The base sequence number encoded in a segment file name, or undefined for other files. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function encodeSegmentHeader(baseSeq: number): Buffer {
  const buf = Buffer.alloc(SEGMENT_HEADER_BYTES);
  MAGIC.copy(buf, 0);
  buf[7] = SEGMENT_FORMAT_VERSION;
  buf.writeUInt32LE(baseSeq % 0x1_0000_0000, 8);
  buf.writeUInt32LE(Math.floor(baseSeq / 0x1_0000_0000), 12);
  return buf;
}

export type SegmentHeaderCheck =
  | { ok: true; baseSeq: number }
  | { ok: false; reason: 'short' | 'magic' | 'version' };

export function parseSegmentHeader(buf: Buffer): SegmentHeaderCheck {
  if (buf.length < SEGMENT_HEADER_BYTES) return { ok: false, reason: 'short' };
  if (!buf.subarray(0, 7).equals(MAGIC)) return { ok: false, reason: 'magic' };
  if (buf[7] !== SEGMENT_FORMAT_VERSION) return { ok: false, reason: 'version' };
  return { ok: true, baseSeq: buf.readUInt32LE(8) + buf.readUInt32LE(12) * 0x1_0000_0000 };
}
