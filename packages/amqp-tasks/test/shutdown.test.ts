import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TaskContext, TasksError } from '../src/index.js';
import { brokerTargets } from './brokers.js';
import { sleep, TestBed, until } from './helpers/fixtures.js';

/** A task that never ends by itself: it records why its signal fired, then rejects with that reason. */
function stuckTask(reasons: unknown[]) {
  return {
    fn: (_args: unknown, ctx: TaskContext) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => {
          reasons.push(ctx.signal.reason);
          reject(ctx.signal.reason);
        });
      }),
  };
}

describe.each(brokerTargets())('graceful close against $name', ({ url }) => {
  let bed: TestBed;
  beforeEach(() => {
    bed = new TestBed(url);
  });
  afterEach(async () => {
    await bed.cleanup();
  });

  it('stops consuming, waits for running tasks, then closes', async () => {
    const finished: number[] = [];
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        slow: {
          fn: async (args) => {
            await sleep(300);
            finished.push((args as number[])[0]!);
          },
        },
      },
      { limit: 2 },
    );
    for (let i = 0; i < 5; i++) await server.publish({ name: 'slow', routingKey: queue, args: [i] });
    await until(() => worker.stats().running === 2);
    await server.close({ timeoutMs: 5_000 });
    // The two running tasks finished and were acked; the other three stayed in the queue.
    expect(finished).toHaveLength(2);
    expect(worker.stats().succeeded).toBe(2);
    expect(server.state).toBe('closed');
    const channel = await bed.channel();
    expect((await channel.checkQueue(queue)).messageCount).toBe(3);
  });

  it('aborts laggards at the deadline with DSP_TASKS_SHUTDOWN and leaves them for redelivery', async () => {
    const reasons: unknown[] = [];
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        stuck: stuckTask(reasons),
      },
      { limit: 3 },
    );
    await Promise.all([1, 2, 3].map((i) => server.publish({ name: 'stuck', routingKey: queue, args: [i] })));
    await until(() => worker.stats().running === 3);
    const started = Date.now();
    await server.close({ timeoutMs: 200 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(reasons).toHaveLength(3);
    for (const reason of reasons) expect(TasksError.hasCode(reason, 'DSP_TASKS_SHUTDOWN')).toBe(true);

    // A second worker gets all three again, marked redelivered.
    const redelivered: boolean[] = [];
    await bed.serverWithWorker(
      { stuck: { fn: (_args, ctx) => void redelivered.push(ctx.redelivered) } },
      { queue, bindingKeys: [queue] },
    );
    await until(() => redelivered.length === 3);
    expect(redelivered).toEqual([true, true, true]);
  });

  it('destroy() aborts running tasks at once with DSP_TASKS_SHUTDOWN and loses nothing', async () => {
    const reasons: unknown[] = [];
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        stuck: stuckTask(reasons),
      },
      { limit: 2 },
    );
    await Promise.all([1, 2, 3].map((i) => server.publish({ name: 'stuck', routingKey: queue, args: [i] })));
    await until(() => worker.stats().running === 2);
    worker.destroy(new Error('operator said so'));
    // Synchronous: the signals fired before destroy() returned.
    expect(reasons).toHaveLength(2);
    for (const reason of reasons) {
      expect(TasksError.hasCode(reason, 'DSP_TASKS_SHUTDOWN')).toBe(true);
      expect((reason as Error).cause).toMatchObject({ message: 'operator said so' });
    }
    expect(() => worker.start()).toThrow(expect.objectContaining({ code: 'DSP_TASKS_CLOSED' }));
    await worker.close(); // the same settled close, at once
    expect(worker.stats()).toMatchObject({ succeeded: 0, failed: 0, retried: 0, deadLettered: 0 });

    // Nothing was acked: another worker gets all three (the two that ran come back redelivered).
    const seen: number[] = [];
    await bed.serverWithWorker(
      { stuck: { fn: (args) => void seen.push((args as number[])[0]!) } },
      { queue, bindingKeys: [queue] },
    );
    await until(() => seen.length === 3);
    expect([...seen].sort()).toEqual([1, 2, 3]);
    await server.close();
  });

  it('settles pending confirms before closing', async () => {
    const queue = bed.queue();
    const server = bed.server({ queues: [{ name: queue, bindingKeys: [queue] }] });
    await server.start();
    const publishes = Array.from({ length: 200 }, () => server.publish({ name: 'n', routingKey: queue }));
    await server.close();
    const results = await Promise.allSettled(publishes);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(200);
    const channel = await bed.channel();
    expect((await channel.checkQueue(queue)).messageCount).toBe(200);
  });

  it('is idempotent and disposable, and refuses work afterwards', async () => {
    const queue = bed.queue();
    const server = bed.server({ queues: [{ name: queue, bindingKeys: [queue] }] });
    await server.start();
    const worker = server.newWorker({ name: 'w', queue }, { n: { fn: () => undefined } });
    worker.start();
    await until(() => worker.consuming);
    {
      await using disposable = server;
      expect(disposable.connected).toBe(true);
    }
    expect(server.state).toBe('closed');
    await server.close();
    expect(() => server.newWorker({ name: 'w2', queue }, {})).toThrow(TasksError);
    await expect(server.call({ name: 'n' })).rejects.toMatchObject({ code: 'DSP_TASKS_CLOSED' });
  });
});
