import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startBeanstalkd } from '../src/beanstalkd-process.js';
import { getFreePort } from '../src/free-port.js';
import { startRedis } from '../src/redis-server-process.js';
import { exchange } from './helpers.js';

// Only the port picker is replaced, to force the race "port handed out, then taken by someone else"
// deterministically; the servers are real.
vi.mock('../src/free-port.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/free-port.js')>();
  return { getFreePort: vi.fn(actual.getFreePort) };
});

describe('port collisions between picking a port and binding it', () => {
  afterEach(() => {
    vi.mocked(getFreePort).mockClear();
  });

  it('redis retries on another port when a plain listener took the port', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const taken = (squatter.address() as { port: number }).port;
    vi.mocked(getFreePort).mockResolvedValueOnce(taken);
    try {
      const redis = await startRedis();
      expect(redis.port).not.toBe(taken);
      expect(vi.mocked(getFreePort)).toHaveBeenCalledTimes(2);
      await redis.stop();
    } finally {
      squatter.close();
    }
  });

  it('redis is not fooled by another redis-server that answers PING on the taken port', async () => {
    const other = await startRedis();
    vi.mocked(getFreePort).mockResolvedValueOnce(other.port);
    try {
      const redis = await startRedis();
      expect(redis.port).not.toBe(other.port);
      // Each handle talks to its own server: the pid check kept the foreign PONG from counting as ready.
      const info = await exchange(redis.port, 'INFO server\r\n', (text) => text.includes('tcp_port:'));
      expect(info).toContain(`process_id:${redis.pid}\r\n`);
      await redis.stop();
    } finally {
      await other.stop();
    }
  });

  it('beanstalkd is not fooled by another beanstalkd on the taken port', async () => {
    const other = await startBeanstalkd();
    vi.mocked(getFreePort).mockResolvedValueOnce(other.port);
    try {
      const beanstalkd = await startBeanstalkd();
      expect(beanstalkd.port).not.toBe(other.port);
      await beanstalkd.stop();
    } finally {
      await other.stop();
    }
  });
});
