import { connect } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { corkMuxerWrites } from '../src/connection/cork.js';
import type { TaskContext } from '../src/index.js';
import { brokerTargets } from './brokers.js';
import { sleep, TestBed, until } from './helpers/fixtures.js';

/** Counts how often each task (by its first arg) ran. */
function runCounter() {
  const runs = new Map<number, number>();
  return {
    runs,
    count: (args: unknown) => {
      const id = (args as number[])[0]!;
      runs.set(id, (runs.get(id) ?? 0) + 1);
    },
    twice: () => [...runs].filter(([, n]) => n > 1).map(([id]) => id),
  };
}

describe.each(brokerTargets())('worker and publisher hot path against $name', ({ url }) => {
  let bed: TestBed;
  beforeEach(() => {
    bed = new TestBed(url);
  });
  afterEach(() => bed.cleanup());

  it('sends the frames of one muxer pass in one socket write (amqplib internals still where cork.ts looks)', async () => {
    const model = await connect(url);
    try {
      expect(corkMuxerWrites(model)).toBe(true);
      const socket = (model as unknown as { connection: { stream: Record<string, unknown> } }).connection
        .stream;
      const calls = { write: 0, writev: 0 };
      for (const name of ['_write', '_writev'] as const) {
        const original = socket[name] as (...args: unknown[]) => unknown;
        socket[name] = function (this: unknown, ...args: unknown[]) {
          calls[name === '_write' ? 'write' : 'writev']++;
          return original.apply(this, args);
        };
      }
      const channel = await model.createConfirmChannel();
      const queue = bed.queue();
      await channel.assertQueue(queue, { durable: false });
      calls.write = 0;
      calls.writev = 0;
      for (let i = 0; i < 200; i++) channel.sendToQueue(queue, Buffer.from(`m${i}`));
      await channel.waitForConfirms();
      // 200 publishes of one turn: one pass of the muxer, one writev (uncorked, amqplib writes each frame).
      expect(calls.writev).toBeGreaterThanOrEqual(1);
      expect(calls.write + calls.writev).toBeLessThanOrEqual(3);
      expect((await channel.checkQueue(queue)).messageCount).toBe(200);
    } finally {
      await model.close();
    }
  });

  it('runs thousands of synchronous tasks waiting in the window one at a time, without recursion', async () => {
    const total = 2_000;
    let open = false;
    let running = 0;
    let maxRunning = 0;
    const counter = runCounter();
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        hold: {
          fn: async () => {
            while (!open) await sleep(5);
          },
        },
        // Returns a plain value: run, released and acked before the worker takes the next one.
        quick: {
          fn: (args) => {
            running++;
            maxRunning = Math.max(maxRunning, running);
            counter.count(args);
            running--;
            return 'done';
          },
        },
      },
      { limit: 1, prefetch: total + 10 },
    );
    await server.publish({ name: 'hold', routingKey: queue });
    await until(() => worker.stats().running === 1, 15_000, 'hold running');
    await Promise.all(
      Array.from({ length: total }, (_, i) =>
        server.publish({ name: 'quick', routingKey: queue, args: [i] }),
      ),
    );
    // Every quick task waits in the worker behind the held one; then all run when its slot frees.
    await until(() => worker.stats().waiting === total, 30_000, 'all deliveries waiting');
    open = true;
    await until(() => worker.stats().succeeded === total + 1, 30_000, 'all tasks done');
    expect(counter.runs.size).toBe(total);
    expect(counter.twice()).toEqual([]);
    expect(maxRunning).toBe(1);
    expect(worker.stats()).toMatchObject({ maxRunning: 1, failed: 0, waiting: 0, running: 0 });
    await server.close();
    expect(await bed.messageCount(queue)).toBe(0);
  });

  it('close() sends the acks of the tasks that ended in its last turn: none runs twice across a restart', async () => {
    const total = 400;
    const counter = runCounter();
    const tasks = {
      work: {
        fn: async (args: unknown) => {
          await sleep(1 + ((args as number[])[0]! % 7));
          counter.count(args);
        },
      },
    };
    const first = await bed.serverWithWorker(tasks, { limit: 16 });
    const { queue } = first;
    await Promise.all(
      Array.from({ length: total }, (_, i) =>
        first.server.publish({ name: 'work', routingKey: queue, args: [i] }),
      ),
    );
    await until(() => counter.runs.size >= 100, 30_000, 'a quarter done');
    // Tasks are running: the last of them end, and are acked, just before the channel closes.
    expect(first.worker.stats().running).toBeGreaterThan(0);
    await first.server.close({ timeoutMs: 10_000 });
    expect(first.worker.stats().droppedAcks).toBe(0);
    const ranFirst = counter.runs.size;
    expect(first.worker.stats().succeeded).toBe(ranFirst);

    const second = await bed.serverWithWorker(tasks, { limit: 16, queue });
    await until(() => counter.runs.size === total, 30_000, 'the rest done');
    // A lost ack would show as a task of the first worker run again by the second: such a message was
    // requeued when the first channel closed, so it sits before a sentinel published now. Once the
    // sentinel has run and the worker is idle, everything before it has run too.
    await second.server.publish({ name: 'work', routingKey: queue, args: [total] });
    await until(
      () =>
        counter.runs.has(total) && second.worker.stats().running === 0 && second.worker.stats().waiting === 0,
      30_000,
      'the sentinel run and the worker idle',
    );
    expect(counter.twice()).toEqual([]);
    expect(second.worker.stats().succeeded).toBe(total - ranFirst + 1);
  });

  it('treats a result whose `then` throws as a failure and adopts foreign thenables; ctx spreads', async () => {
    const failures: string[] = [];
    let spread: Record<string, unknown> | undefined;
    let signal: unknown;
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        hostile: {
          fn: () => ({
            // biome-ignore lint/suspicious/noThenProperty: the point of the test (a hostile thenable)
            get then(): never {
              throw new Error('hostile then');
            },
          }),
        },
        // ctx keeps its fields as own properties (logged or spread as a plain object).
        spread: {
          fn: (_args: unknown, ctx: TaskContext) => {
            spread = { ...ctx };
            signal = ctx.signal;
          },
        },
        foreign: {
          fn: () => ({
            // biome-ignore lint/suspicious/noThenProperty: the point of the test (a foreign thenable)
            then(resolve: (value: number) => void) {
              setTimeout(() => resolve(7), 5);
            },
          }),
        },
      },
      { limit: 2, retry: { maxAttempts: 1 } },
    );
    server.on('task:failed', ({ error }) => failures.push(error.message));
    await server.publish({ name: 'hostile', routingKey: queue });
    await server.publish({ name: 'foreign', routingKey: queue });
    const uuid = await server.publish({ name: 'spread', routingKey: queue });
    await until(
      () => worker.stats().deadLettered === 1 && worker.stats().succeeded === 2,
      15_000,
      'all settled',
    );
    expect(failures).toEqual(['hostile then']);
    expect(spread).toMatchObject({ uuid, name: 'spread', attempt: 1, worker: worker.name, queue });
    expect(spread?.redelivered).toBe(false);
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(worker.stats().running).toBe(0);
  });
});
