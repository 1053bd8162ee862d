import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startBeanstalkd } from '../src/beanstalkd-process.js';
import { getFreePort } from '../src/free-port.js';
import { exchange, isPortFree, pathExists } from './helpers.js';

const PUT_HELLO = 'use jobs\r\nput 0 0 60 5\r\nhello\r\n';
const RESERVE = 'watch jobs\r\nreserve-with-timeout 0\r\n';

describe('startBeanstalkd', () => {
  it('starts a private beanstalkd that queues jobs, and stop() leaves nothing behind', async () => {
    const beanstalkd = await startBeanstalkd();
    expect(beanstalkd.binlogDir).toBeUndefined();

    const put = await exchange(beanstalkd.port, PUT_HELLO, (text) => /INSERTED \d+\r\n$/.test(text));
    expect(put).toMatch(/^USING jobs\r\nINSERTED (\d+)\r\n$/);
    const reserved = await exchange(beanstalkd.port, RESERVE, (text) => text.endsWith('hello\r\n'));
    expect(reserved).toMatch(/^WATCHING 2\r\nRESERVED \d+ 5\r\nhello\r\n$/);

    expect(await pathExists(beanstalkd.dir)).toBe(true);
    await beanstalkd.stop();
    expect(() => process.kill(beanstalkd.pid, 0)).toThrow();
    expect(await isPortFree(beanstalkd.port)).toBe(true);
    expect(await pathExists(beanstalkd.dir)).toBe(false);
  });

  it('keeps jobs across restart() with a private binlog, and removes the binlog on the final stop', async () => {
    const first = await startBeanstalkd({ binlog: true });
    expect(first.binlogDir).toBeDefined();
    const binlogDir = first.binlogDir as string;
    await exchange(first.port, PUT_HELLO, (text) => text.includes('INSERTED'));

    const second = await first.restart();
    expect(second.port).toBe(first.port);
    expect(second.pid).not.toBe(first.pid);
    expect(() => process.kill(first.pid, 0)).toThrow();
    expect(await pathExists(binlogDir)).toBe(true);
    const reserved = await exchange(
      second.port,
      RESERVE,
      (text) => text.endsWith('hello\r\n') || text.includes('TIMED_OUT'),
    );
    expect(reserved).toContain('hello');

    // The old handle no longer owns anything.
    await first.stop();
    expect(await pathExists(binlogDir)).toBe(true);
    await second.stop();
    expect(() => process.kill(second.pid, 0)).toThrow();
    expect(await pathExists(binlogDir)).toBe(false);
  });

  it('recovers jobs after a crash (SIGKILL) from a caller-owned binlog dir on a fixed port', async () => {
    const binlogDir = await mkdtemp(join(tmpdir(), 'tooling-binlog-test-'));
    const port = await getFreePort();
    try {
      const first = await startBeanstalkd({ binlogDir, port });
      expect(first.port).toBe(port);
      await exchange(port, PUT_HELLO, (text) => text.includes('INSERTED'));
      const second = await first.restart({ crash: true });
      const reserved = await exchange(
        port,
        RESERVE,
        (text) => text.endsWith('hello\r\n') || text.includes('TIMED_OUT'),
      );
      expect(reserved).toContain('hello');
      await second.stop();

      // Caller-owned directory survives stop(), and a fresh start on it sees the job again (it was
      // reserved, not deleted, and the reservation ended with the connection).
      expect((await readdir(binlogDir)).some((name) => name.startsWith('binlog.'))).toBe(true);
      const third = await startBeanstalkd({ binlogDir });
      const again = await exchange(
        third.port,
        RESERVE,
        (text) => text.endsWith('hello\r\n') || text.includes('TIMED_OUT'),
      );
      expect(again).toContain('hello');
      await third.stop();
    } finally {
      await rm(binlogDir, { recursive: true, force: true });
    }
  });

  it('fails with a clear error when a fixed port stays taken', async () => {
    const holder = await startBeanstalkd();
    try {
      const error = await startBeanstalkd({ port: holder.port }).catch((caught: unknown) => caught);
      expect((error as Error).message).toMatch(
        /beanstalkd exited with code \d+ before accepting connections/,
      );
      expect((error as Error).message).toMatch(/address already in use/i);
    } finally {
      await holder.stop();
    }
  });

  it('passes maxJobSizeBytes as -z: a body over it is JOB_TOO_BIG, one at the limit is accepted', async () => {
    const beanstalkd = await startBeanstalkd({ maxJobSizeBytes: 10 });
    try {
      const reply = await exchange(
        beanstalkd.port,
        'use jobs\r\nput 0 0 60 10\r\n0123456789\r\nput 0 0 60 11\r\n0123456789a\r\n',
        (text) => text.includes('JOB_TOO_BIG\r\n'),
      );
      expect(reply).toMatch(/^USING jobs\r\nINSERTED \d+\r\nJOB_TOO_BIG\r\n$/);
    } finally {
      await beanstalkd.stop();
    }
    await expect(startBeanstalkd({ maxJobSizeBytes: 0 })).rejects.toThrow(/maxJobSizeBytes/);
  });
});
