/**
 * Exclusive lock on a log directory, so two processes (or two handles in one process) never write the
 * same files.
 *
 * On Linux the lock is a listening socket in the abstract namespace, named after the directory's device
 * and inode: the kernel refuses a second bind and frees the name when the holder dies, even by SIGKILL,
 * so there is no stale lock to guess about. Elsewhere a `LOCK` file created with O_EXCL holds it, and a
 * lock whose pid is no longer alive is taken over. Either way `LOCK` records who holds the directory,
 * for the error message.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CoreError } from '../errors.js';

const LOCK_FILE = 'LOCK';

export type LockStrategy = 'socket' | 'pid-file';

function defaultStrategy(): LockStrategy {
  return process.platform === 'linux' ? 'socket' : 'pid-file';
}

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

export class DirectoryLock {
  private constructor(
    private readonly file: string,
    private readonly server: Server | undefined,
  ) {}

  /**
   * Takes the lock on `dir` or throws `DSP_CORE_LOG_LOCKED` naming the holder. `strategy` is for tests:
   * the default picks the socket on Linux and the pid file elsewhere.
   */
  static async acquire(dir: string, strategy: LockStrategy = defaultStrategy()): Promise<DirectoryLock> {
    const file = join(dir, LOCK_FILE);
    if (strategy === 'socket') {
      // Path and inode together: a name per directory that survives other spellings of its path.
      const real = await fsp.realpath(dir);
      const st = await fsp.stat(real);
      const key = createHash('sha256').update(`${st.dev}:${st.ino}:${real}`).digest('hex').slice(0, 40);
      const server = await listenAbstract(`\0dispatcher-log-lock:${key}`).catch(async (err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        throw await lockedError(dir, file);
      });
      await writeOwner(file, 'w');
      return new DirectoryLock(file, server);
    }
    for (let i = 0; i < 2; i++) {
      try {
        await writeOwner(file, 'wx');
        return new DirectoryLock(file, undefined);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const owner = await readOwner(file);
        if (owner && owner.host === hostname() && isAlive(owner.pid)) throw await lockedError(dir, file);
        await fsp.rm(file, { force: true }); // stale: its holder is gone
      }
    }
    throw await lockedError(dir, file);
  }

  async release(): Promise<void> {
    await fsp.rm(this.file, { force: true }).catch(() => {});
    if (this.server) await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** Synchronous best-effort release for `destroy()`. */
  releaseSync(): void {
    this.server?.close();
  }
}

function listenAbstract(name: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen({ path: name, exclusive: true }, () => {
      server.off('error', reject);
      server.unref();
      resolve(server);
    });
  });
}

async function writeOwner(file: string, flag: 'w' | 'wx'): Promise<void> {
  const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  await fsp.writeFile(file, `${JSON.stringify(owner)}\n`, { flag });
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    const parsed = JSON.parse(await fsp.readFile(file, 'utf8')) as Partial<LockOwner>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string') return parsed as LockOwner;
  } catch {
    // unreadable or half-written: treated as no owner
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function lockedError(dir: string, file: string): Promise<CoreError> {
  const owner = await readOwner(file);
  const who = owner ? `process ${owner.pid} on ${owner.host} (since ${owner.since})` : 'another process';
  return new CoreError('DSP_CORE_LOG_LOCKED', `log directory ${dir} is locked by ${who}`, {
    details: { dir, owner },
  });
}
