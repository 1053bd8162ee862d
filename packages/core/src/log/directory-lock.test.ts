import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/temp-dir.js';
import { DirectoryLock, type LockStrategy } from './directory-lock.js';

describe.each(['socket', 'pid-file'] as LockStrategy[])('DirectoryLock (%s)', (strategy) => {
  it('is exclusive, names its holder, and can be taken again once released', async () => {
    const dir = tempDir();
    const lock = await DirectoryLock.acquire(dir, strategy);
    expect(JSON.parse(readFileSync(join(dir, 'LOCK'), 'utf8'))).toMatchObject({
      pid: process.pid,
      host: hostname(),
    });
    await expect(DirectoryLock.acquire(dir, strategy)).rejects.toMatchObject({
      code: 'DSP_CORE_LOG_LOCKED',
      message: expect.stringContaining(`process ${process.pid} on ${hostname()}`),
    });
    await lock.release();
    const again = await DirectoryLock.acquire(dir, strategy);
    await again.release();
  });
});

describe('DirectoryLock (pid-file)', () => {
  it('takes over a lock whose holder is gone, and an unreadable one', async () => {
    const dir = tempDir();
    // A pid far above pid_max cannot be alive.
    writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: 99_999_999, host: hostname(), since: 'then' }));
    const owner = () => JSON.parse(readFileSync(join(dir, 'LOCK'), 'utf8')) as Record<string, unknown>;
    const lock = await DirectoryLock.acquire(dir, 'pid-file');
    // The lock now names this process, not the dead one.
    expect(owner()).toMatchObject({ pid: process.pid, host: hostname() });
    expect(owner().since).not.toBe('then');
    await lock.release();
    writeFileSync(join(dir, 'LOCK'), '{half-writ');
    const again = await DirectoryLock.acquire(dir, 'pid-file');
    expect(owner()).toMatchObject({ pid: process.pid, host: hostname() });
    again.releaseSync();
  });
});
