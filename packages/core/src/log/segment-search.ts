import type { Segment } from './segment.js';

/** The segment whose range could hold `seq` (binary search over segments sorted by base sequence). */
export function findSegment(segments: readonly Segment[], seq: number): Segment | undefined {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const seg = segments[mid] as Segment;
    if (seq < seg.baseSeq) hi = mid - 1;
    else if (seq > seg.baseSeq + seg.count - 1 && mid < segments.length - 1) lo = mid + 1;
    else return seg.contains(seq) ? seg : undefined;
  }
  return undefined;
}
