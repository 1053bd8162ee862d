import { createServer, type Server } from 'node:net';
import { type BeanstalkdService, startBeanstalkd } from '@dispatcher/tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BeanstalkClient } from '../src/beanstalk/beanstalk-client.js';
import { PushError } from '../src/errors.js';

let server: BeanstalkdService;

beforeAll(async () => {
  server = await startBeanstalkd({ binlog: true });
});
afterAll(async () => {
  await server.stop();
});

function client(port = server.port, commandTimeoutMs = 5_000): BeanstalkClient {
  return new BeanstalkClient({ host: '127.0.0.1', port, commandTimeoutMs, reconnectMinDelayMs: 20 });
}

describe('BeanstalkClient', () => {
  it('puts, reserves, touches, buries, kicks, peeks and deletes', async () => {
    await using cmd = client();
    await using worker = client();
    const id = await cmd.put(Buffer.from('hello'), { tube: 'bc-a', priority: 10, ttrSec: 30 });
    expect(id).toBeGreaterThan(0);
    await worker.watch('bc-a');
    await worker.ignore('default');
    const job = await worker.reserve(5);
    expect(job?.id).toBe(id);
    expect(job?.payload.toString()).toBe('hello');
    await worker.touch(id);
    await worker.bury(id);
    const stats = await cmd.statsTube('bc-a');
    expect(stats?.['current-jobs-buried']).toBe(1);
    expect((await cmd.peekBuried({ tube: 'bc-a' }))?.id).toBe(id);
    expect(await cmd.kick(10, { tube: 'bc-a' })).toBe(1);
    expect((await cmd.peekReady({ tube: 'bc-a' }))?.payload.toString()).toBe('hello');
    await cmd.delete(id);
    expect(await cmd.peekReady({ tube: 'bc-a' })).toBeUndefined();
    expect(await cmd.statsTube('bc-none')).toBeUndefined();
    expect(await cmd.listTubes()).toContain('bc-a');
    expect(await worker.reserve(0)).toBeUndefined();
    await expect(cmd.delete(id)).rejects.toSatisfy((e) =>
      PushError.hasCode(e, 'DSP_PUSH_BEANSTALK_NOT_FOUND'),
    );
  });

  it('keeps concurrent puts to different tubes apart on one connection', async () => {
    await using cmd = client();
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => cmd.put(`m${i}`, { tube: i % 2 === 0 ? 'bc-even' : 'bc-odd' })),
    );
    expect((await cmd.statsTube('bc-even'))?.['current-jobs-ready']).toBe(20);
    expect((await cmd.statsTube('bc-odd'))?.['current-jobs-ready']).toBe(20);
  });

  it('fails a pending reserve when the server dies and replays use/watch after reconnecting', async () => {
    const worker = client();
    const producer = client();
    try {
      await worker.watch('bc-replay');
      await worker.ignore('default');
      await producer.use('bc-replay');
      // Settled into a value at once so the rejection is never unhandled while the server restarts.
      const pending = worker.reserve(30).then(
        () => undefined,
        (err: unknown) => err,
      );
      // Wait until the reserve really waits on the server before killing it.
      const waitDeadline = Date.now() + 10_000;
      while (((await producer.statsTube('bc-replay'))?.['current-waiting'] ?? 0) < 1) {
        if (Date.now() > waitDeadline) throw new Error('reserve never waited');
        await new Promise((r) => setTimeout(r, 20));
      }
      const started = Date.now();
      server = await server.restart({ crash: true });
      expect(PushError.hasCode(await pending, 'DSP_PUSH_BEANSTALK_DISCONNECTED')).toBe(true);
      expect(Date.now() - started).toBeLessThan(20_000);
      // `use bc-replay` is replayed: a put without a tube lands there; the watch list is replayed too.
      let id: number | undefined;
      const deadline = Date.now() + 20_000;
      while (id === undefined) {
        try {
          id = await producer.put('after');
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      let job: Awaited<ReturnType<BeanstalkClient['reserve']>>;
      for (;;) {
        try {
          job = await worker.reserve(5);
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      expect(job?.id).toBe(id);
      expect(job?.payload.toString()).toBe('after');
      await worker.delete(id);
    } finally {
      await worker.close();
      await producer.close();
    }
  });

  it('times out a command the server never answers', async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const c = client(port, 300);
    try {
      await expect(c.listTubes()).rejects.toSatisfy((e) =>
        PushError.hasCode(e, 'DSP_PUSH_BEANSTALK_TIMEOUT'),
      );
    } finally {
      await c.close();
      silent.close();
    }
  });

  it('rejects calls after close with DSP_PUSH_CLOSED', async () => {
    const c = client();
    await c.connect();
    await c.close();
    await expect(c.put('x')).rejects.toSatisfy((e) => PushError.hasCode(e, 'DSP_PUSH_CLOSED'));
  });
});
