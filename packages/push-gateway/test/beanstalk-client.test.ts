import { connect, createServer, type Server, type Socket } from 'node:net';
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

  it('reads replies that arrive a few bytes at a time, bodies with CRLF inside and several per chunk', async () => {
    // A proxy that hands the server's bytes on in 7-byte pieces, each in its own write.
    const proxy = createServer((down: Socket) => {
      const up = connect(server.port, '127.0.0.1');
      down.pipe(up);
      let queue = Promise.resolve();
      up.on('data', (chunk: Buffer) => {
        queue = queue.then(async () => {
          for (let i = 0; i < chunk.length; i += 7) {
            down.write(chunk.subarray(i, i + 7));
            await new Promise((r) => setImmediate(r));
          }
        });
      });
      up.on('close', () => down.destroy());
      down.on('close', () => up.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const c = client((proxy.address() as { port: number }).port, 30_000);
    try {
      const payloads = [10, 5_000, 40_000].map((n) =>
        Buffer.from(Array.from({ length: n }, (_, i) => (i % 50 === 0 ? 13 : i % 50 === 1 ? 10 : i % 251))),
      );
      const ids = await Promise.all(payloads.map((p) => c.put(p, { tube: 'bc-chunks' })));
      await c.watch('bc-chunks');
      await c.ignore('default');
      const [stats, ...jobs] = await Promise.all([
        c.statsTube('bc-chunks'),
        c.reserve(5),
        c.reserve(5),
        c.reserve(5),
      ]);
      expect(stats?.['current-jobs-ready']).toBe(3);
      expect(jobs.map((j) => j?.id)).toEqual(ids);
      for (const [i, j] of jobs.entries())
        expect(Buffer.compare(j?.payload as Buffer, payloads[i] as Buffer)).toBe(0);
      await Promise.all(ids.map((id) => c.delete(id)));
    } finally {
      await c.close();
      proxy.close();
    }
  });

  it('lets a delete sent ahead of an abandoned reserve finish before the connection is reset', async () => {
    await using cmd = client();
    await using worker = client();
    const id = await cmd.put('pipelined', { tube: 'bc-pipe' });
    await worker.watch('bc-pipe');
    await worker.ignore('default');
    expect((await worker.reserve(5))?.id).toBe(id);
    // The sender's pattern: delete without waiting, the next reserve in the same write; then shutdown aborts it.
    const abort = new AbortController();
    const deleted = worker.delete(id);
    const reserving = worker.reserve(5, { signal: abort.signal }).catch((err: unknown) => err);
    abort.abort();
    await expect(deleted).resolves.toBeUndefined();
    expect(await reserving).toBeDefined();
    const stats = await cmd.statsTube('bc-pipe');
    expect(stats?.['current-jobs-ready'] ?? 0).toBe(0);
    expect(stats?.['current-jobs-reserved'] ?? 0).toBe(0);
    expect(stats?.['cmd-delete']).toBe(1);
  });
});
