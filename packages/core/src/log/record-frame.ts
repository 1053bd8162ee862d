/**
 * On-disk framing of one log record (little-endian):
 *
 *   0  u32  crc32   CRC-32 of bytes 4..20 and of the payload
 *   4  u32  length  payload length in bytes
 *   8  u8   type    0..127 = caller's record types, 128.. = the log's own (ACK)
 *   9  u8   flags   reserved, 0
 *   10 u16  -       reserved, 0
 *   12 u64  seq     the record's sequence number (< 2^53)
 *   20 ...  payload
 *
 * The CRC covers the length and the sequence number too, so a torn or bit-flipped header is caught, and a
 * record copied to the wrong place is not mistaken for another. CRC-32 (zlib's, native since Node 20.15)
 * rather than CRC-32C: it is the one Node computes in C.
 */
import { crc32 } from 'node:zlib';

export const FRAME_HEADER_BYTES = 20;

/** Record types the log writes for itself. Callers use 0..127. */
export const RecordType = {
  /** Acknowledgement (tombstone) of one or more earlier records. */
  Ack: 128,
} as const;

export const MAX_USER_RECORD_TYPE = 127;

const TWO_32 = 0x1_0000_0000;

/** Writes a frame for `payload` at `pos` in `buf` (which must have room). Returns the frame length. */
export function writeFrame(buf: Buffer, pos: number, type: number, seq: number, payload: Uint8Array): number {
  buf.writeUInt32LE(payload.length, pos + 4);
  buf[pos + 8] = type;
  buf[pos + 9] = 0;
  buf.writeUInt16LE(0, pos + 10);
  buf.writeUInt32LE(seq % TWO_32, pos + 12);
  buf.writeUInt32LE(Math.floor(seq / TWO_32), pos + 16);
  buf.set(payload, pos + FRAME_HEADER_BYTES);
  const crc = crc32(buf.subarray(pos + 4, pos + FRAME_HEADER_BYTES + payload.length));
  buf.writeUInt32LE(crc, pos);
  return FRAME_HEADER_BYTES + payload.length;
}

export interface FrameHeader {
  crc: number;
  length: number;
  type: number;
  flags: number;
  seq: number;
}

/** Reads the header at `pos` (caller checks that 20 bytes are there). */
export function readFrameHeader(buf: Buffer, pos: number): FrameHeader {
  return {
    crc: buf.readUInt32LE(pos),
    length: buf.readUInt32LE(pos + 4),
    type: buf[pos + 8] as number,
    flags: buf[pos + 9] as number,
    seq: buf.readUInt32LE(pos + 12) + buf.readUInt32LE(pos + 16) * TWO_32,
  };
}

/** True when the frame at `pos` with `header.length` payload bytes (all present in `buf`) checks out. */
export function frameChecksumMatches(buf: Buffer, pos: number, header: FrameHeader): boolean {
  if (header.flags !== 0 || buf.readUInt16LE(pos + 10) !== 0) return false;
  return crc32(buf.subarray(pos + 4, pos + FRAME_HEADER_BYTES + header.length)) === header.crc;
}
