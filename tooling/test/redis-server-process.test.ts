import { describe, expect, it } from 'vitest';
import { trackedProcesses } from '../src/process-registry.js';
import { startRedis } from '../src/redis-server-process.js';
import { exchange, isPortFree, pathExists, resp } from './helpers.js';

describe('startRedis', () => {
  it('starts a private redis-server that stores data, and stop() leaves nothing behind', async () => {
    const redis = await startRedis();
    expect(redis.host).toBe('127.0.0.1');
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await pathExists(redis.dir)).toBe(true);
    expect(trackedProcesses().map((entry) => entry.pid)).toContain(redis.pid);

    const reply = await exchange(
      redis.port,
      resp('SET', 'greeting', 'héllo') + resp('GET', 'greeting'),
      (text) => text.endsWith('héllo\r\n'),
    );
    expect(reply).toBe(`+OK\r\n$${Buffer.byteLength('héllo')}\r\nhéllo\r\n`);

    // The server must run with exactly the isolation settings asked for, not /etc/redis defaults.
    const config = await exchange(
      redis.port,
      resp('CONFIG', 'GET', 'save') + resp('CONFIG', 'GET', 'appendonly') + resp('CONFIG', 'GET', 'dir'),
      (text) => text.includes(redis.dir),
    );
    expect(config).toContain('$4\r\nsave\r\n$0\r\n\r\n');
    expect(config).toContain('$10\r\nappendonly\r\n$2\r\nno\r\n');

    await redis.stop();
    expect(() => process.kill(redis.pid, 0)).toThrow();
    expect(await isPortFree(redis.port)).toBe(true);
    expect(await pathExists(redis.dir)).toBe(false);
    expect(trackedProcesses().map((entry) => entry.pid)).not.toContain(redis.pid);
    // A second stop (e.g. from an afterAll after an explicit stop) is harmless.
    await redis.stop();
  });

  it('runs several servers side by side on different ports and directories', async () => {
    const servers = await Promise.all([startRedis(), startRedis(), startRedis(), startRedis()]);
    try {
      expect(new Set(servers.map((server) => server.port)).size).toBe(servers.length);
      expect(new Set(servers.map((server) => server.dir)).size).toBe(servers.length);
      for (const [index, server] of servers.entries()) {
        const reply = await exchange(server.port, resp('INCRBY', 'n', String(index + 1)), (text) =>
          text.endsWith('\r\n'),
        );
        expect(reply).toBe(`:${index + 1}\r\n`);
      }
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
  });

  it('puts the server output into the error when redis-server refuses to start', async () => {
    const error = await startRedis({ extraArgs: ['--no-such-directive', 'yes'] }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/redis-server exited with code 1 before accepting connections/);
    expect((error as Error).message).toMatch(/--- last output ---[\s\S]*no-such-directive/i);
  });

  it('kills a half-started server when aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('test aborted start-up'));
    await expect(startRedis({ signal: controller.signal })).rejects.toThrow('test aborted start-up');
  });
});
