import { open, readFile, rm, stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

const EMPTY_LOCK_GRACE_MS = 10_000;

/** Options for {@link withFileLock}. */
export interface FileLockOptions {
  /** Give up waiting for the lock after this long (default 10 minutes: an apt install can be slow). */
  timeoutMs?: number;
  /** How often to re-check a held lock (default 250 ms). */
  pollMs?: number;
  /** Aborts the wait for the lock. */
  signal?: AbortSignal;
}

/**
 * Runs `fn` while holding an exclusive lock file shared by every process on the machine.
 *
 * The lock is a file created with `O_EXCL` that contains the holder's pid. A lock whose holder is no longer
 * alive is taken over, so a test process killed mid-install cannot wedge later runs.
 *
 * @param path - Lock file path, normally inside `os.tmpdir()`.
 * @param fn - Work to do under the lock.
 * @returns Whatever `fn` returns.
 */
export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const { timeoutMs = 600_000, pollMs = 250, signal } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    if (await tryAcquire(path)) break;
    const stalePid = await staleHolder(path);
    if (stalePid !== undefined) {
      // Re-read just before removing so a waiter that already took the lock over is not robbed of it. The
      // remaining window is tiny, and the only work done under this lock (apt) also has its own lock.
      if (((await readHolder(path)) ?? 0) === stalePid) await rm(path, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for lock ${path} (held by pid ${await readHolder(path)})`,
      );
    }
    await delay(pollMs, undefined, { signal });
  }
  try {
    return await fn();
  } finally {
    // Only remove our own lock: if it was (wrongly) taken over, deleting it would release someone else's.
    if ((await readHolder(path)) === process.pid) await rm(path, { force: true });
  }
}

async function tryAcquire(path: string): Promise<boolean> {
  try {
    const handle = await open(path, 'wx');
    try {
      await handle.writeFile(String(process.pid));
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function readHolder(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(path, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Returns the pid recorded in a lock whose holder has died (0 for an abandoned empty file), else undefined. */
async function staleHolder(path: string): Promise<number | undefined> {
  const pid = await readHolder(path);
  if (pid === undefined) {
    // An empty file normally means the holder is between open() and write(); only one that stays empty
    // for a long time was abandoned by a crash.
    const info = await stat(path).catch(() => undefined);
    return info !== undefined && info.size === 0 && Date.now() - info.mtimeMs > EMPTY_LOCK_GRACE_MS
      ? 0
      : undefined;
  }
  try {
    process.kill(pid, 0);
    return undefined;
  } catch (error) {
    // EPERM means the pid exists but belongs to another user: still alive.
    return (error as NodeJS.ErrnoException).code === 'ESRCH' ? pid : undefined;
  }
}
