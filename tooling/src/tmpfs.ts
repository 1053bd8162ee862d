/**
 * A small tmpfs mounted for a test, to fill a real file system: only root can mount, so callers get a
 * reason to print and skip instead of a mount when that is not possible here.
 */
import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Tmpfs {
  /** The mount point. */
  dir: string;
  /** Unmounts (lazily if files are still open) and removes the mount point. Idempotent. */
  unmount(): Promise<void>;
}

export type TmpfsResult = { ok: true; tmpfs: Tmpfs } | { ok: false; reason: string };

/** Mounts a tmpfs of `sizeBytes` on a fresh directory under the OS temp dir. */
export async function mountTmpfs(sizeBytes: number): Promise<TmpfsResult> {
  if (process.platform !== 'linux') return { ok: false, reason: `tmpfs needs Linux (${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'mounting a tmpfs needs root' };
  const dir = mkdtempSync(join(tmpdir(), 'dsp-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tmpfs', dir]);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return { ok: false, reason: `mount -t tmpfs failed: ${(err as Error).message.trim()}` };
  }
  let unmounted: Promise<void> | undefined;
  const unmount = () => {
    unmounted ??= (async () => {
      await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
      rmSync(dir, { recursive: true, force: true });
    })();
    return unmounted;
  };
  return { ok: true, tmpfs: { dir, unmount } };
}

/** Takes what is left of a file system: writes `path` until ENOSPC. */
export function fillFileSystem(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}
