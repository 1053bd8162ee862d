import { getFreePort, startBeanstalkd } from '@dispatcher/tooling';
import { describe, expect, it } from 'vitest';
import { BeanstalkPool, parseServerAddress } from '../src/beanstalk/beanstalk-pool.js';
import { PushError } from '../src/errors.js';

describe('BeanstalkPool', () => {
  it('parses addresses with and without a port', () => {
    expect(parseServerAddress(' 10.0.0.1:11301 ')).toEqual({ host: '10.0.0.1', port: 11301 });
    expect(parseServerAddress('beans')).toEqual({ host: 'beans', port: 11300 });
    expect(() => parseServerAddress('a:99999')).toThrow(PushError);
  });

  it('spreads puts over the servers and skips a dead one', async () => {
    const a = await startBeanstalkd();
    const b = await startBeanstalkd();
    // A third address nobody listens on: the dead server.
    const deadPort = await getFreePort('127.0.0.1');
    const pool = new BeanstalkPool({
      addresses: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`, `127.0.0.1:${deadPort}`],
      client: { commandTimeoutMs: 1_000, reconnectMinDelayMs: 50 },
    });
    try {
      await pool.connect();
      const landed = new Map<string, number>();
      for (let i = 0; i < 30; i++) {
        const r = await pool.put('pool-t', Buffer.from(`m${i}`));
        landed.set(r.address, (landed.get(r.address) ?? 0) + 1);
      }
      expect(landed.get(`127.0.0.1:${deadPort}`)).toBeUndefined();
      expect(landed.get(`127.0.0.1:${a.port}`)).toBeGreaterThan(5);
      expect(landed.get(`127.0.0.1:${b.port}`)).toBeGreaterThan(5);
      expect(await pool.tubeCount('pool-t', 'current-jobs-ready')).toBe(30);
    } finally {
      await pool.close();
      await a.stop();
      await b.stop();
    }
  });
});
