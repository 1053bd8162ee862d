import { CoreError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { LogFileSystem } from './log-file-system.js';

/**
 * When an append counts as durable.
 * - `always`: every write is followed by `fdatasync` before its appends resolve. Appends that arrive while
 *   a sync is in flight are group-committed: they share the next write and sync.
 * - `batch`: as `always`, but a batch may stay open up to `maxDelayMs` to gather more appends, so fewer
 *   syncs serve more records. The wait is adaptive: it only happens while recent batches held several
 *   records (there is concurrency to gather) and ends as soon as the batch is as large as the last one,
 *   so a lone appender never waits and lock-step appenders never wait for nothing.
 * - `never`: appends resolve once written to the OS (they survive a process crash, not a power loss).
 */
export type FsyncPolicy =
  | { mode: 'always' }
  | {
      mode: 'batch';
      /** Longest a batch waits for more appends, in ms. @defaultValue 2 */
      maxDelayMs?: number;
      /** A batch this large is written at once, in bytes. @defaultValue 1 MiB */
      maxBatchBytes?: number;
    }
  | { mode: 'never' };

export interface DurableLogOptions {
  /** Directory holding the segment files and the lock; created when missing. */
  dir: string;
  /** Durability policy. @defaultValue `{ mode: 'batch', maxDelayMs: 2 }` */
  fsync?: FsyncPolicy;
  /** A segment is rolled over once it would pass this size, in bytes. @defaultValue 64 MiB */
  segmentMaxBytes?: number;
  /** Largest record payload accepted, in bytes. @defaultValue 16 MiB */
  maxRecordBytes?: number;
  /**
   * Event-sourcing mode: keep every segment (no deletion of acknowledged ones) so `replay()` can return
   * the full history. @defaultValue false
   */
  retainHistory?: boolean;
  /**
   * Keep this many bytes of the active segment filled with zeros (and synced) ahead of its records, as
   * PostgreSQL does for its WAL: a batch written into space already allocated changes no file size, so
   * its fdatasync commits no metadata (on ext4 about half the latency of an appending one). Recovery
   * reads zeros after the last record as the end of the data. The zeros are written in the background;
   * if that fails (a full disk), appends go on extending the file as without it. 0 = off.
   * @defaultValue 0
   */
  preallocateBytes?: number;
  /**
   * How a batch is made durable: `fdatasync` after its write, or `dsync`: segment files opened with
   * `O_DSYNC`, so the write itself returns once durable (PostgreSQL's `open_datasync`). One system call and
   * one thread-pool round trip per batch instead of two, which counts when the CPU is contended. Failures
   * are handled alike: a failed durable write rejects its batch and its bytes are cut off.
   * @defaultValue 'fdatasync'
   */
  syncMethod?: 'fdatasync' | 'dsync';
  /** Receives recovery reports (torn tails, corrupt records) and I/O errors. @defaultValue no-op */
  logger?: Logger;
  /** Cancels a long recovery scan in `open()`. */
  signal?: AbortSignal;
  /**
   * The file operations of the writer, for fault injection in tests (short writes, ENOSPC, EIO).
   * @defaultValue node:fs/promises
   */
  fileSystem?: LogFileSystem;
}

export interface ResolvedLogOptions {
  dir: string;
  fsync: Required<Extract<FsyncPolicy, { mode: 'batch' }>> | { mode: 'always' } | { mode: 'never' };
  segmentMaxBytes: number;
  maxRecordBytes: number;
  retainHistory: boolean;
  preallocateBytes: number;
  syncMethod: 'fdatasync' | 'dsync';
  fileSystem: LogFileSystem | undefined;
}

export const DURABLE_LOG_DEFAULTS = {
  fsync: { mode: 'batch', maxDelayMs: 2, maxBatchBytes: 1024 * 1024 },
  segmentMaxBytes: 64 * 1024 * 1024,
  maxRecordBytes: 16 * 1024 * 1024,
  retainHistory: false,
  preallocateBytes: 0,
  syncMethod: 'fdatasync',
} as const;

// Offsets are 32-bit: a segment (one record past its limit at most) must stay under 4 GiB.
const MAX_SEGMENT_SPAN = 0xffff_ffff;

function invalid(message: string): CoreError {
  return new CoreError('DSP_CORE_INVALID_ARGUMENT', message);
}

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw invalid(`${name} must be a positive integer, got ${value}`);
  return value;
}

export function resolveLogOptions(options: DurableLogOptions): ResolvedLogOptions {
  if (typeof options.dir !== 'string' || options.dir.length === 0)
    throw invalid('dir must be a non-empty path');
  const segmentMaxBytes = positiveInt(
    'segmentMaxBytes',
    options.segmentMaxBytes ?? DURABLE_LOG_DEFAULTS.segmentMaxBytes,
  );
  const maxRecordBytes = positiveInt(
    'maxRecordBytes',
    options.maxRecordBytes ?? DURABLE_LOG_DEFAULTS.maxRecordBytes,
  );
  if (segmentMaxBytes + maxRecordBytes + 64 > MAX_SEGMENT_SPAN) {
    throw invalid('segmentMaxBytes + maxRecordBytes must stay under 4 GiB');
  }
  const preallocateBytes = options.preallocateBytes ?? DURABLE_LOG_DEFAULTS.preallocateBytes;
  if (!Number.isSafeInteger(preallocateBytes) || preallocateBytes < 0)
    throw invalid(`preallocateBytes must be an integer >= 0, got ${preallocateBytes}`);
  const syncMethod = options.syncMethod ?? DURABLE_LOG_DEFAULTS.syncMethod;
  if (syncMethod !== 'fdatasync' && syncMethod !== 'dsync')
    throw invalid(`syncMethod must be 'fdatasync' or 'dsync', got ${String(syncMethod)}`);
  const policy = options.fsync ?? DURABLE_LOG_DEFAULTS.fsync;
  let fsync: ResolvedLogOptions['fsync'];
  switch (policy.mode) {
    case 'always':
    case 'never':
      fsync = { mode: policy.mode };
      break;
    case 'batch': {
      const maxDelayMs = policy.maxDelayMs ?? DURABLE_LOG_DEFAULTS.fsync.maxDelayMs;
      if (!Number.isFinite(maxDelayMs) || maxDelayMs < 0)
        throw invalid(`fsync.maxDelayMs must be >= 0, got ${maxDelayMs}`);
      fsync = {
        mode: 'batch',
        maxDelayMs,
        maxBatchBytes: positiveInt(
          'fsync.maxBatchBytes',
          policy.maxBatchBytes ?? DURABLE_LOG_DEFAULTS.fsync.maxBatchBytes,
        ),
      };
      break;
    }
    default:
      throw invalid(
        `fsync.mode must be 'always', 'batch' or 'never', got ${String((policy as { mode: unknown }).mode)}`,
      );
  }
  return {
    dir: options.dir,
    fsync,
    segmentMaxBytes,
    maxRecordBytes,
    retainHistory: options.retainHistory ?? DURABLE_LOG_DEFAULTS.retainHistory,
    preallocateBytes,
    syncMethod,
    fileSystem: options.fileSystem,
  };
}
