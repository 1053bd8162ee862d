/**
 * The file operations the log's writer uses, behind an interface so tests can inject faults (short
 * writes, ENOSPC, EIO on write or on fdatasync) exactly where a real disk would raise them. The default is
 * node:fs/promises; recovery reads files directly, since it runs before any append can be acknowledged.
 */
import { constants, promises as fsp } from 'node:fs';

/** The subset of `node:fs/promises` `FileHandle` the log uses. */
export interface LogFileHandle {
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export interface LogOpenOptions {
  /** Every write is durable when it returns, as if followed by fdatasync (`O_DSYNC`). */
  dsync?: boolean;
}

/** Opens files and directories for the log. `flags` as in `fs.open` (`'r'`, `'r+'`, `'wx+'`). */
export interface LogFileSystem {
  open(path: string, flags: 'r' | 'r+' | 'wx+', options?: LogOpenOptions): Promise<LogFileHandle>;
  /** Removes a file; a missing file is not an error. */
  rm(path: string): Promise<void>;
}

/** The real file system. */
const NUMERIC_FLAGS = {
  r: constants.O_RDONLY,
  'r+': constants.O_RDWR,
  'wx+': constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
} as const;

export const nodeLogFileSystem: LogFileSystem = {
  open: (path, flags, options) =>
    options?.dsync ? fsp.open(path, NUMERIC_FLAGS[flags] | constants.O_DSYNC, 0o666) : fsp.open(path, flags),
  rm: (path) => fsp.rm(path, { force: true }),
};
