import type { LogFileHandle, LogFileSystem, LogOpenOptions } from '../../src/log/log-file-system.js';
import { nodeLogFileSystem } from '../../src/log/log-file-system.js';

type Fault = 'ENOSPC' | 'EIO';

function errno(code: Fault, syscall: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: injected fault, ${syscall}`);
  err.code = code;
  err.syscall = syscall;
  return err;
}

/**
 * The real file system with faults injected where a disk raises them: a write budget after which writes
 * are short and then fail (or store nothing), and failing fdatasync or truncate. Bytes within the budget
 * really reach the file, as they would on a disk that fills up mid-batch. A file opened `dsync` syncs after
 * each write, and an fdatasync fault fails that write, as `O_DSYNC` reports it.
 */
export class FaultyFileSystem implements LogFileSystem {
  /** Bytes writes may still store; undefined = unlimited. */
  writeBudget: number | undefined;
  /** What a write past the budget does: throw ENOSPC/EIO, or return 0 bytes written. */
  overBudget: Fault | 'zero' = 'ENOSPC';
  /** The next this-many fdatasync calls fail with this code. */
  failDatasync: { code: Fault; times: number } | undefined;
  failTruncate: Fault | undefined;
  writes = 0;
  shortWrites = 0;

  /** Lifts every fault. */
  heal(): void {
    this.writeBudget = undefined;
    this.failDatasync = undefined;
    this.failTruncate = undefined;
  }

  rm(path: string): Promise<void> {
    return nodeLogFileSystem.rm(path);
  }

  async open(path: string, flags: 'r' | 'r+' | 'wx+', options?: LogOpenOptions): Promise<LogFileHandle> {
    const real = await nodeLogFileSystem.open(path, flags);
    const fs = this;
    const handle: LogFileHandle = {
      read: (buf, off, len, pos) => real.read(buf, off, len, pos),
      close: () => real.close(),
      sync: () => real.sync(),
      async write(buf, off, len, pos) {
        fs.writes++;
        const budget = fs.writeBudget;
        if (budget === undefined || len <= budget) {
          if (budget !== undefined) fs.writeBudget = budget - len;
          return real.write(buf, off, len, pos);
        }
        if (budget > 0) {
          // A short write: what fits is stored, the caller must notice the rest is not.
          fs.writeBudget = 0;
          fs.shortWrites++;
          return real.write(buf, off, budget, pos);
        }
        if (fs.overBudget === 'zero') return { bytesWritten: 0 };
        throw errno(fs.overBudget, 'write');
      },
      datasync: () => fs.#datasync(real),
      async truncate(length) {
        if (fs.failTruncate) throw errno(fs.failTruncate, 'ftruncate');
        return real.truncate(length);
      },
    };
    if (!options?.dsync) return handle;
    return {
      ...handle,
      async write(buf, off, len, pos) {
        const result = await handle.write(buf, off, len, pos);
        await fs.#datasync(real).catch((err: NodeJS.ErrnoException) => {
          throw errno(err.code as Fault, 'write');
        });
        return result;
      },
    };
  }

  async #datasync(real: LogFileHandle): Promise<void> {
    const fault = this.failDatasync;
    if (fault && fault.times > 0) {
      fault.times--;
      throw errno(fault.code, 'fdatasync');
    }
    return real.datasync();
  }
}
