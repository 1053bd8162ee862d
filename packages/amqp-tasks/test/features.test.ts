import { AsyncLocalStorage } from 'node:async_hooks';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { type ContextPropagation, defineTask, TaskHeaders, TasksError } from '../src/index.js';
import { brokerTargets } from './brokers.js';
import { sleep, TestBed, uniqueName, until } from './helpers/fixtures.js';

const add = defineTask({
  name: 'add',
  schema: z.object({ a: z.number(), b: z.number() }),
  result: z.object({ sum: z.number() }),
});
const explode = defineTask({ name: 'explode', schema: z.object({}), retry: { maxAttempts: 1 } });

describe.each(brokerTargets())('features against $name', ({ url }) => {
  let bed: TestBed;
  beforeEach(() => {
    bed = new TestBed(url);
  });
  afterEach(async () => {
    await bed.cleanup();
  });

  it('call() awaits a typed, validated result through direct reply-to', async () => {
    const queue = bed.queue();
    const server = bed.server({ tasks: [add, explode], queues: [{ name: queue, bindingKeys: [queue] }] });
    await server.start();
    const worker = server.newWorker(
      { name: uniqueName('w'), queue },
      {
        [add.name]: add.handler(({ a, b }) => ({ sum: a + b })),
        [explode.name]: explode.handler(() => {
          throw new Error('kaboom');
        }),
        slow: { fn: () => sleep(500) },
      },
    );
    worker.start();
    await until(() => worker.consuming);
    const result = await server.call('add', { a: 2, b: 3 }, { routingKey: queue });
    expectTypeOf(result).toEqualTypeOf<{ sum: number }>();
    expect(result).toEqual({ sum: 5 });
    const failed = await server.call('explode', {}, { routingKey: queue }).catch((err: unknown) => err);
    expect(TasksError.hasCode(failed, 'DSP_TASKS_TASK_FAILED')).toBe(true);
    expect((failed as TasksError).details).toMatchObject({ message: 'kaboom', reason: 'failed' });
    await expect(server.call({ name: 'slow', routingKey: queue }, { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'DSP_TASKS_CALL_TIMEOUT',
    });
  });

  it('runs delayed tasks no earlier than asked (delayMs and runAt)', async () => {
    const ran = new Map<string, number>();
    const { server, queue } = await bed.serverWithWorker({
      later: { fn: (args) => void ran.set((args as string[])[0]!, Date.now()) },
    });
    const t0 = Date.now();
    await server.publish({ name: 'later', routingKey: queue, args: ['delay'] }, { delayMs: 700 });
    await server.publish({ name: 'later', routingKey: queue, args: ['at'] }, { runAt: new Date(t0 + 1_234) });
    await server.publish({ name: 'later', routingKey: queue, args: ['now'] });
    await until(() => ran.size === 3, 10_000);
    // Upper bounds with room for a loaded machine (confirms, the delay queue's expiry and redelivery).
    expect(ran.get('now')! - t0).toBeLessThan(5_000);
    expect(ran.get('delay')! - t0).toBeGreaterThanOrEqual(700);
    expect(ran.get('delay')! - t0).toBeLessThan(700 + 5_000);
    expect(ran.get('at')! - t0).toBeGreaterThanOrEqual(1_234);
    expect(ran.get('at')! - t0).toBeLessThan(1_234 + 5_000);
  });

  it('runs a task asked for a few milliseconds ahead no earlier than asked', async () => {
    const asked = new Map<string, number>();
    const ran = new Map<string, number>();
    const { server, queue } = await bed.serverWithWorker({
      soon: { fn: (args) => void ran.set((args as string[])[0]!, Date.now()) },
    });
    for (let i = 0; i < 20; i++) {
      // 1..4 ms ahead: shorter than the smallest delay bucket, so no bucket is involved.
      const runAt = Date.now() + 1 + (i % 4);
      asked.set(`t${i}`, runAt);
      await server.publish({ name: 'soon', routingKey: queue, args: [`t${i}`] }, { runAt: new Date(runAt) });
    }
    await until(() => ran.size === 20, 10_000);
    const early = [...asked].filter(([id, at]) => ran.get(id)! < at);
    expect(early).toEqual([]);
  });

  it('honours priorities on queues declared with maxPriority', async () => {
    const queue = bed.queue();
    const server = bed.server({ queues: [{ name: queue, bindingKeys: [queue], maxPriority: 10 }] });
    await server.start();
    for (let i = 0; i < 5; i++)
      await server.publish({ name: 'p', routingKey: queue, args: [`low${i}`] }, { priority: 1 });
    await server.publish({ name: 'p', routingKey: queue, args: ['high'] }, { priority: 9 });
    const order: string[] = [];
    const worker = server.newWorker(
      { name: uniqueName('w'), queue, limit: 1 },
      {
        p: { fn: (args) => void order.push((args as string[])[0]!) },
      },
    );
    worker.start();
    await until(() => order.length === 6);
    expect(order[0]).toBe('high');
  });

  it('limits task starts per interval (rate limit)', async () => {
    const starts: number[] = [];
    const { server, queue } = await bed.serverWithWorker(
      { r: { fn: () => void starts.push(Date.now()) } },
      { limit: 10, rateLimit: { max: 3, intervalMs: 300 } },
    );
    await Promise.all(Array.from({ length: 9 }, () => server.publish({ name: 'r', routingKey: queue })));
    await until(() => starts.length === 9, 10_000);
    // 3 at once, then one every 100 ms: the last of 9 starts about 600 ms after the first.
    expect(starts[8]! - starts[0]!).toBeGreaterThanOrEqual(550);
    const inFirstInterval = starts.filter((t) => t - starts[0]! < 290).length;
    expect(inFirstInterval).toBeLessThanOrEqual(5);
  });

  it('propagates a tracing context through headers into the task function', async () => {
    const storage = new AsyncLocalStorage<string>();
    const propagation: ContextPropagation = {
      inject: (headers) => {
        const active = storage.getStore();
        if (active) headers.traceparent = active;
      },
      runInContext: (headers, fn) => storage.run(String(headers.traceparent ?? 'none'), fn),
    };
    const seen: Array<string | undefined> = [];
    const { server, queue } = await bed.serverWithWorker(
      {
        traced: {
          fn: async () => {
            await sleep(1);
            seen.push(storage.getStore());
          },
        },
      },
      {},
      { propagation },
    );
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await storage.run(traceparent, () => server.publish({ name: 'traced', routingKey: queue }));
    await until(() => seen.length === 1);
    expect(seen).toEqual([traceparent]);
  });

  it('reports metrics through events: started, failed, retried, succeeded with durations', async () => {
    const events: string[] = [];
    const durations: Array<[string, number]> = [];
    const { server, queue } = await bed.serverWithWorker(
      {
        once: {
          fn: async (_args, ctx) => {
            await sleep(20);
            if (ctx.attempt === 1) throw new Error('first time fails');
          },
        },
      },
      { retry: { baseMs: 10, capMs: 10, jitter: 'none', maxAttempts: 2 } },
    );
    for (const name of ['task:started', 'task:failed', 'task:retried', 'task:succeeded'] as const) {
      server.on(name, (event) => {
        events.push(`${name}#${event.attempt}`);
        if ('durationMs' in event) durations.push([name, event.durationMs]);
      });
    }
    await server.publish({ name: 'once', routingKey: queue });
    await until(() => events.includes('task:succeeded#2') && events.includes('task:retried#1'));
    // `task:retried` follows the retry's confirm, which can reach us in the same socket read as the retry's
    // delivery (a 10 ms delay on a busy broker): the delivery runs at once, the confirm's promise a moment
    // later. So it comes after `task:failed#1`, before or after `task:started#2`.
    expect(events.filter((event) => event !== 'task:retried#1')).toEqual([
      'task:started#1',
      'task:failed#1',
      'task:started#2',
      'task:succeeded#2',
    ]);
    expect(events.filter((event) => event === 'task:retried#1')).toHaveLength(1);
    expect(events.indexOf('task:retried#1')).toBeGreaterThan(events.indexOf('task:failed#1'));
    // Both finished attempts report how long the function ran (it sleeps 20 ms); a retry reports no duration.
    expect(durations.map(([name]) => name)).toEqual(['task:failed', 'task:succeeded']);
    for (const [, ms] of durations) expect(ms).toBeGreaterThanOrEqual(15);
    // The same story in the worker's counters (updated before each event is emitted).
    expect(Object.values(server.stats().workers)).toEqual([
      expect.objectContaining({ started: 2, failed: 1, retried: 1, succeeded: 1, deadLettered: 0 }),
    ]);
    expect(TaskHeaders.attempt).toBe('x-dispatcher-attempt');
  });
});
