/**
 * Opening a log directory: scan every segment in order, verify each frame, cut torn tails, report and
 * skip corrupt ranges, and rebuild the index of live records. Records are applied in sequence order, so
 * an ACK always finds the record it acknowledges already indexed (or its segment already deleted).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { throwIfAborted } from '../abort.js';
import { CoreError } from '../errors.js';
import type { Logger } from '../logger.js';
import { decodeAckPayload } from './ack-codec.js';
import { MAX_USER_RECORD_TYPE, RecordType } from './record-frame.js';
import { Segment, SlotState } from './segment.js';
import { parseSegmentFileName, parseSegmentHeader, SEGMENT_HEADER_BYTES } from './segment-file.js';
import { scanSegment } from './segment-scanner.js';
import { findSegment } from './segment-search.js';

/** What `open()` found and repaired. */
export interface RecoveryReport {
  /** Segment files in use after recovery. */
  segments: number;
  /** Records scanned (all types). */
  records: number;
  /** Records not yet acknowledged. */
  liveRecords: number;
  /** Torn tails cut off: the last write before a crash did not finish. */
  truncated: Array<{ file: string; offset: number; bytes: number }>;
  /** Damaged ranges in the middle of a file, reported and skipped. */
  corrupt: Array<{
    file: string;
    offset: number;
    length: number;
    lostSeqs?: [number, number];
    reason: string;
  }>;
  /** Segment files removed because their header was never completely written. */
  removedFiles: string[];
  durationMs: number;
}

export interface RecoveredLog {
  segments: Segment[];
  nextSeq: number;
  report: RecoveryReport;
}

export async function recoverLog(
  dir: string,
  maxRecordBytes: number,
  log: Logger,
  signal: AbortSignal | undefined,
): Promise<RecoveredLog> {
  const started = performance.now();
  const report: RecoveryReport = {
    segments: 0,
    records: 0,
    liveRecords: 0,
    truncated: [],
    corrupt: [],
    removedFiles: [],
    durationMs: 0,
  };
  const files = (await fsp.readdir(dir))
    .map((name) => ({ name, baseSeq: parseSegmentFileName(name) }))
    .filter((f): f is { name: string; baseSeq: number } => f.baseSeq !== undefined)
    .sort((a, b) => a.baseSeq - b.baseSeq);
  const segments: Segment[] = [];
  let nextSeq = 1;

  for (const [i, file] of files.entries()) {
    throwIfAborted(signal);
    const path = join(dir, file.name);
    const buf = await fsp.readFile(path);
    const header = parseSegmentHeader(buf);
    if (!header.ok) {
      if (header.reason === 'short') {
        // Created but its header never reached the disk: it cannot hold an acknowledged record.
        await fsp.rm(path, { force: true });
        report.removedFiles.push(file.name);
        log.warn(
          { file: file.name, bytes: buf.length },
          'removed a segment file whose header was never written',
        );
        continue;
      }
      throw new CoreError(
        'DSP_CORE_LOG_FORMAT',
        `${path} is not a Dispatcher log segment (${header.reason})`,
        {
          details: { file: path },
        },
      );
    }
    if (header.baseSeq !== file.baseSeq || file.baseSeq < nextSeq) {
      throw new CoreError(
        'DSP_CORE_LOG_FORMAT',
        `${path}: segment starts at sequence ${header.baseSeq}, expected a file name of ${file.baseSeq} and no overlap with the previous segment (next sequence ${nextSeq})`,
        { details: { file: path } },
      );
    }
    const seg = new Segment(file.baseSeq, path, SEGMENT_HEADER_BYTES, true);
    segments.push(seg);
    const result = scanSegment(buf, SEGMENT_HEADER_BYTES, file.baseSeq, maxRecordBytes, (frame) => {
      report.records++;
      seg.padTo(frame.seq);
      if (frame.type <= MAX_USER_RECORD_TYPE) {
        seg.push(frame.offset, SlotState.Live);
        return;
      }
      const seqs = frame.type === RecordType.Ack ? decodeAckPayload(frame.payload) : undefined;
      if (!seqs) {
        // The CRC matched, so this was written by a newer or broken writer: never skip it silently.
        seg.push(frame.offset, SlotState.Missing);
        const length = frame.payload.length;
        report.corrupt.push({
          file: file.name,
          offset: frame.offset,
          length,
          reason: `unreadable record of type ${frame.type}`,
        });
        log.error(
          { file: file.name, offset: frame.offset, type: frame.type },
          'skipped an unreadable log record',
        );
        return;
      }
      seg.push(frame.offset, SlotState.Internal);
      for (const s of seqs) {
        const target = findSegment(segments, s);
        if (!target || target.stateOf(s) === SlotState.Missing) continue;
        target.ack(s);
        if (target !== seg) seg.crossAcks.push(s);
      }
    });
    for (const issue of result.issues) {
      if (issue.kind === 'torn-tail') {
        report.truncated.push({ file: file.name, offset: issue.offset, bytes: issue.length });
        const where = i === files.length - 1 ? 'torn tail' : 'damaged tail of a closed segment';
        log.warn(
          { file: file.name, offset: issue.offset, bytes: issue.length },
          `log recovery: cut a ${where}`,
        );
      } else {
        const entry: RecoveryReport['corrupt'][number] = {
          file: file.name,
          offset: issue.offset,
          length: issue.length,
          reason: 'checksum or framing mismatch',
        };
        if (issue.lostSeqs) entry.lostSeqs = issue.lostSeqs;
        report.corrupt.push(entry);
        log.error({ ...entry }, 'log recovery: skipped a corrupt range');
      }
    }
    if (result.validEnd < buf.length) {
      const fh = await fsp.open(path, 'r+');
      try {
        await fh.truncate(result.validEnd);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    }
    seg.endOffset = result.validEnd;
    seg.fileSize = result.validEnd;
    seg.allocatedEnd = result.validEnd;
    nextSeq = Math.max(result.nextSeq, seg.baseSeq + seg.count);
  }
  for (const seg of segments) report.liveRecords += seg.liveCount;
  report.segments = segments.length;
  report.durationMs = Math.round(performance.now() - started);
  return { segments, nextSeq, report };
}
