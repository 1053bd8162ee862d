import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * Bytes available to an unprivileged user (`statfs` f_bavail × f_bsize) on the file system holding
 * `dir` — or, while `dir` does not exist yet, its nearest existing ancestor (where it will be created).
 */
export async function diskFreeBytes(dir: string): Promise<number> {
  let path = resolve(dir);
  for (;;) {
    try {
      const s = await statfs(path);
      return s.bavail * s.bsize;
    } catch (err) {
      const parent = dirname(path);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === path) throw err;
      path = parent;
    }
  }
}
