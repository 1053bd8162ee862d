/**
 * Recovery scan of one segment file's bytes: walks the frames, checks each CRC and sequence number, and
 * says where the valid data ends and which byte ranges were damaged.
 *
 * A frame that fails its check is either a torn tail (nothing valid follows: the last write did not
 * finish) or corruption in the middle (a valid frame with a plausible sequence number follows further
 * on: the damaged range is reported and skipped). The resync search only accepts a frame whose sequence
 * number fits the skipped byte count, so random bytes are not mistaken for records.
 *
 * Zeros from a frame boundary to the end of the file are the end of the data, not damage: the writer
 * may fill the file with zeros ahead of its records (pre-allocation). A frame is never all zeros (its
 * sequence number is at least 1), so no record hides in them, and the resync search stops at the last
 * non-zero byte.
 */
import { FRAME_HEADER_BYTES, frameChecksumMatches, readFrameHeader } from './record-frame.js';

export interface ScannedFrame {
  seq: number;
  type: number;
  /** Offset of the frame in the file. */
  offset: number;
  /** The payload (a view into the scanned buffer). */
  payload: Buffer;
}

export interface ScanIssue {
  kind: 'corrupt' | 'torn-tail';
  /** Byte offset of the damaged range in the file. */
  offset: number;
  /** Length of the damaged range in bytes. */
  length: number;
  /** Sequence numbers lost in a middle corruption (`[from, to]`), when known. */
  lostSeqs?: [number, number];
}

export interface ScanResult {
  /** Offset just past the last valid frame: the file's length once a torn tail is cut off. */
  validEnd: number;
  /** Sequence number the next frame would have had. */
  nextSeq: number;
  issues: ScanIssue[];
}

function frameAt(buf: Buffer, pos: number, maxPayload: number) {
  if (buf.length - pos < FRAME_HEADER_BYTES) return undefined;
  const header = readFrameHeader(buf, pos);
  if (header.length > maxPayload || pos + FRAME_HEADER_BYTES + header.length > buf.length) return undefined;
  return header;
}

export function scanSegment(
  buf: Buffer,
  start: number,
  baseSeq: number,
  maxPayload: number,
  onFrame: (frame: ScannedFrame) => void,
): ScanResult {
  const issues: ScanIssue[] = [];
  // Every frame has a non-zero byte in its header (seq >= 1): none starts past the last non-zero byte.
  let lastNonZero = buf.length - 1;
  while (lastNonZero >= start && buf[lastNonZero] === 0) lastNonZero--;
  let pos = start;
  let expected = baseSeq;
  while (pos < buf.length) {
    const header = frameAt(buf, pos, maxPayload);
    if (header && header.seq === expected && frameChecksumMatches(buf, pos, header)) {
      onFrame({
        seq: header.seq,
        type: header.type,
        offset: pos,
        payload: buf.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + header.length),
      });
      pos += FRAME_HEADER_BYTES + header.length;
      expected++;
      continue;
    }
    // Only zeros from here: the end of the data (pre-allocated space), not a torn write.
    if (pos > lastNonZero) return { validEnd: pos, nextSeq: expected, issues };
    // Damaged frame at `pos`: look for the next frame that checks out.
    let next = -1;
    let nextSeq = 0;
    for (let q = pos + 1; q <= lastNonZero && q + FRAME_HEADER_BYTES <= buf.length; q++) {
      const h = frameAt(buf, q, maxPayload);
      if (!h) continue;
      // At most one lost record per header-size bytes skipped.
      const maxSeq = expected + Math.floor((q - pos) / FRAME_HEADER_BYTES);
      if (h.seq < expected || h.seq > maxSeq) continue;
      if (!frameChecksumMatches(buf, q, h)) continue;
      next = q;
      nextSeq = h.seq;
      break;
    }
    if (next < 0) {
      issues.push({ kind: 'torn-tail', offset: pos, length: buf.length - pos });
      return { validEnd: pos, nextSeq: expected, issues };
    }
    const issue: ScanIssue = { kind: 'corrupt', offset: pos, length: next - pos };
    if (nextSeq > expected) issue.lostSeqs = [expected, nextSeq - 1];
    issues.push(issue);
    pos = next;
    expected = nextSeq;
  }
  return { validEnd: pos, nextSeq: expected, issues };
}
