/**
 * The file operations the log's writer uses, behind an interface so tests can inject faults (short
 * writes, ENOSPC, EIO on write or on fdatasync) exactly where a real disk would raise them. The default is
 * node:fs/promises; recovery reads files directly, since it runs before any append can be acknowledged.
 */
import { promises as fsp } from 'node:fs';

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

/** Opens files and directories for the log. `flags` as in `fs.open` (`'r'`, `'r+'`, `'wx+'`). */
export interface LogFileSystem {
  open(path: string, flags: 'r' | 'r+' | 'wx+'): Promise<LogFileHandle>;
  /** Removes a file; a missing file is not an error. */
  rm(path: string): Promise<void>;
}

/** The real file system. */
export const nodeLogFileSystem: LogFileSystem = {
  open: (path, flags) => fsp.open(path, flags),
  rm: (path) => fsp.rm(path, { force: true }),
};
