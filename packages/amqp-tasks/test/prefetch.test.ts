import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultPrefetch } from '../src/index.js';
import { brokerTargets } from './brokers.js';
import { sleep, TestBed, until } from './helpers/fixtures.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

/** A task function held until `release()`, ignoring its signal (a laggard keeps its slot). */
function gate() {
  let open = false;
  return {
    release: () => {
      open = true;
    },
    async wait() {
      while (!open) await sleep(5);
    },
  };
}

describe.each(brokerTargets())('default prefetch against $name', ({ url }) => {
  let bed: TestBed;
  beforeEach(() => {
    bed = new TestBed(url);
  });
  afterEach(() => bed.cleanup());

  it('keeps the next deliveries on hand but never runs more than `limit`', async () => {
    const total = 300;
    const limit = 4;
    const runs: number[] = [];
    let running = 0;
    let maxRunning = 0;
    let maxWaiting = 0;
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        work: {
          fn: async (args) => {
            running++;
            maxRunning = Math.max(maxRunning, running);
            maxWaiting = Math.max(maxWaiting, worker.stats().waiting);
            try {
              await sleep(1);
              runs.push((args as number[])[0]!);
            } finally {
              running--;
            }
          },
        },
      },
      { limit },
    );
    expect(worker.prefetch).toBe(defaultPrefetch(limit));
    expect(worker.prefetch).toBe(limit + 64);
    await Promise.all(
      Array.from({ length: total }, (_, i) => server.publish({ name: 'work', routingKey: queue, args: [i] })),
    );
    await until(() => runs.length === total, 30_000, 'all tasks done');

    expect(runs.sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(maxRunning).toBe(limit);
    expect(worker.stats().maxRunning).toBe(limit);
    // Deliveries did wait in the worker, and never more than the window.
    expect(maxWaiting).toBeGreaterThan(0);
    expect(maxWaiting).toBeLessThanOrEqual(worker.prefetch - limit);
  });

  it('leaves a second worker everything beyond the first one`s window', async () => {
    const total = 100;
    const held = gate();
    const first = await bed.serverWithWorker({ hold: { fn: () => held.wait() } }, { limit: 1 });
    const window = first.worker.prefetch;
    expect(window).toBe(65);
    await Promise.all(
      Array.from({ length: total }, (_, i) =>
        first.server.publish({ name: 'hold', routingKey: first.queue, args: [i] }),
      ),
    );
    // One running, the rest of the window waiting in the worker, the others still in the queue.
    await until(() => first.worker.stats().waiting === window - 1, 10_000, 'window filled');
    expect(first.worker.stats().running).toBe(1);
    expect(await bed.messageCount(first.queue)).toBe(total - window);

    const seconds: number[] = [];
    const second = await bed.serverWithWorker(
      { hold: { fn: (args) => void seconds.push((args as number[])[0]!) } },
      { queue: first.queue, limit: 1 },
    );
    await until(() => seconds.length === total - window, 10_000, 'the second worker drained the rest');
    expect(await bed.messageCount(first.queue)).toBe(0);
    // The first worker still holds exactly its window: it took nothing more from the queue.
    expect(first.worker.stats()).toMatchObject({ started: 1, running: 1, waiting: window - 1 });

    held.release();
    await until(() => first.worker.stats().succeeded === window, 10_000, 'the window done');
    expect(second.worker.stats().succeeded).toBe(total - window);
    expect(first.worker.stats().maxRunning).toBe(1);
  });

  it('a crashed worker`s waiting deliveries go to another worker: nothing lost, none run twice', async () => {
    const total = 100;
    const held = gate();
    // The crash cuts this proxy's connection and refuses the worker's reconnection.
    const proxy = await TcpProxy.start(url);
    try {
      const crashed = bed.server({
        url: proxy.urlFor(url),
        reconnect: { intervalMs: 50, maxIntervalMs: 100 },
      });
      await crashed.start();
      const queue = bed.queue();
      const doomed = crashed.newWorker(
        { name: 'doomed', queue, bindingKeys: [queue], limit: 2 },
        { work: { fn: () => held.wait() } },
      );
      doomed.start();
      await until(() => doomed.consuming);
      await Promise.all(
        Array.from({ length: total }, (_, i) =>
          crashed.publish({ name: 'work', routingKey: queue, args: [i] }),
        ),
      );
      await until(() => doomed.stats().waiting === doomed.prefetch - 2, 10_000, 'window filled');

      const runs = new Map<number, boolean>();
      let twice = 0;
      const survivor = await bed.serverWithWorker(
        {
          work: {
            fn: (args, ctx) => {
              const n = (args as number[])[0]!;
              if (runs.has(n)) twice++;
              runs.set(n, ctx.redelivered);
            },
          },
        },
        { queue, limit: 8 },
      );
      await until(() => runs.size === total - doomed.prefetch, 10_000, 'the rest drained');
      // The crash: the connection drops and the worker never comes back.
      proxy.refuse(true);
      proxy.cut();
      await until(() => runs.size === total, 15_000, 'the held deliveries redelivered');
      expect([...runs.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(twice).toBe(0);
      // Exactly the crashed worker's window came back, marked as redelivered.
      expect([...runs.values()].filter(Boolean)).toHaveLength(doomed.prefetch);
      expect(survivor.worker.stats().maxRunning).toBeLessThanOrEqual(8);
      await until(async () => (await bed.messageCount(queue)) === 0, 5_000, 'queue empty');
    } finally {
      held.release();
      await proxy.close();
    }
  });
});
