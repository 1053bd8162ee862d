import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withFileLock } from '../src/file-lock.js';
import { pathExists } from './helpers.js';

describe('withFileLock', () => {
  let dir: string;
  let lock: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tooling-lock-test-'));
    lock = join(dir, 'test.lock');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs concurrent callers one at a time and removes the lock afterwards', async () => {
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3, 4].map((id) =>
        withFileLock(
          lock,
          async () => {
            inside += 1;
            maxInside = Math.max(maxInside, inside);
            expect(await readFile(lock, 'utf8')).toBe(String(process.pid));
            await delay(30);
            order.push(id);
            inside -= 1;
          },
          { pollMs: 10 },
        ),
      ),
    );
    expect(maxInside).toBe(1);
    expect(order.sort()).toEqual([1, 2, 3, 4]);
    expect(await pathExists(lock)).toBe(false);
  });

  it('takes over a lock whose holder is dead', async () => {
    // pid 2^22+1 is above Linux's pid_max default, so no process can have it.
    await writeFile(lock, String(4_194_305));
    await expect(withFileLock(lock, async () => 'ran', { timeoutMs: 2_000, pollMs: 10 })).resolves.toBe(
      'ran',
    );
  });

  it('waits for a live holder and gives up with a clear error after the timeout', async () => {
    await writeFile(lock, String(process.ppid));
    await expect(withFileLock(lock, async () => 'ran', { timeoutMs: 200, pollMs: 20 })).rejects.toThrow(
      `waiting for lock ${lock} (held by pid ${process.ppid})`,
    );
    // Someone else's lock is left alone.
    expect(await readFile(lock, 'utf8')).toBe(String(process.ppid));
  });

  it('releases the lock when the work fails', async () => {
    await expect(withFileLock(lock, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await pathExists(lock)).toBe(false);
  });
});
