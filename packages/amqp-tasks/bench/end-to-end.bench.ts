/**
 * End-to-end task throughput (`pnpm --filter @dispatcher/amqp-tasks bench`): publish with confirms →
 * worker → ack, for no-op tasks with persistent messages, at worker concurrency 1, 16 and 128.
 *
 * The clock runs from the first publish to the last ack; publishes are pipelined with a window of
 * BENCH_WINDOW confirms in flight. The sender and the worker each have their own server (connection), as
 * they usually live in separate processes; one extra cell runs both on one shared connection. Each run uses
 * its own exchange and queue and deletes them afterwards. A last line runs the same pattern on bare amqplib:
 * the ceiling of this broker on this machine.
 *
 * Env: RABBITMQ_URL (default amqp://guest:guest@127.0.0.1:5672), BENCH_BROKER_URL (our broker, once it
 * exists: then both run and the ratio is printed), BENCH_TASKS (per cell, default 20000), BENCH_WINDOW
 * (default 1000), BENCH_PREFETCH (worker prefetch; default max(limit, 256)).
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'amqplib';
import { Server } from '../src/index.js';
import { rawBaseline } from './raw-baseline.js';

const TASKS = Number(process.env.BENCH_TASKS ?? 20_000);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 1_000);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,16,128').split(',').map(Number);
const targets = [
  { name: 'rabbitmq', url: process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672' },
  ...(process.env.BENCH_BROKER_URL ? [{ name: 'amqp-broker', url: process.env.BENCH_BROKER_URL }] : []),
];

interface Cell {
  broker: string;
  concurrency: number;
  shared: boolean;
  prefetch: number;
  tasksPerSec: number;
  publishPerSec: number;
}

async function measure(broker: string, url: string, concurrency: number, shared: boolean): Promise<Cell> {
  const suffix = randomBytes(4).toString('hex');
  const exchange = `dsp-bench.ex.${suffix}`;
  const queue = `dsp-bench.q.${suffix}`;
  const prefetch = Number(process.env.BENCH_PREFETCH ?? Math.max(concurrency, 256));
  const options = {
    url,
    exchange,
    defaultRoutingKey: queue,
    queues: [{ name: queue, bindingKeys: [queue] }],
  };
  // Sender and worker on their own servers (connections), as they usually are in separate processes.
  const server = new Server(options);
  const workerServer = shared ? server : new Server(options);
  try {
    for (const s of new Set([server, workerServer])) {
      s.on('error', (event) => console.error(`  error (${event.component}): ${event.error.message}`));
      await s.start();
    }
    let acked = 0;
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    workerServer.on('task:succeeded', () => {
      if (++acked === TASKS) resolveDone();
    });
    const worker = workerServer.newWorker(
      { name: `bench-${suffix}`, queue, limit: concurrency, prefetch, defaultTimeoutMs: 0 },
      { noop: { fn: () => undefined } },
    );
    worker.start();
    while (!worker.consuming) await new Promise((resolve) => setTimeout(resolve, 5));

    const started = performance.now();
    let next = 0;
    const publisher = async () => {
      while (next < TASKS) {
        next++;
        await server.publish({ name: 'noop', args: [] });
      }
    };
    await Promise.all(Array.from({ length: Math.min(WINDOW, TASKS) }, publisher));
    const published = performance.now();
    await done;
    const elapsed = (performance.now() - started) / 1000;
    return {
      broker,
      concurrency,
      shared,
      prefetch,
      tasksPerSec: TASKS / elapsed,
      publishPerSec: TASKS / ((published - started) / 1000),
    };
  } finally {
    await workerServer.close();
    await server.close();
    // Clean up even when the cell failed: the broker is shared.
    const raw = await connect(url);
    const channel = await raw.createChannel();
    await channel.deleteQueue(queue);
    await channel.deleteQueue(`${queue}.dead`);
    await channel.deleteExchange(exchange);
    await raw.close();
  }
}

const cells: Cell[] = [];
const report = (cell: Cell) =>
  console.log(
    `  ${cell.broker.padEnd(12)} concurrency ${String(cell.concurrency).padStart(3)}` +
      `${cell.shared ? ', one shared connection' : ''} (prefetch ${cell.prefetch}): ` +
      `${Math.round(cell.tasksPerSec).toLocaleString('en-US').padStart(7)} tasks/s end to end, ` +
      `publish ${Math.round(cell.publishPerSec).toLocaleString('en-US')} /s`,
  );
console.log(`amqp-tasks end-to-end: ${TASKS} no-op tasks per cell, persistent, confirms (window ${WINDOW})`);
for (const target of targets) {
  for (const concurrency of CONCURRENCY) {
    const cell = await measure(target.name, target.url, concurrency, false);
    cells.push(cell);
    report(cell);
  }
  report(await measure(target.name, target.url, 16, true));
  if (process.env.BENCH_SKIP_BASELINE === '1') continue;
  const raw = await rawBaseline(target.url, TASKS, WINDOW, 256);
  console.log(
    `  ${target.name.padEnd(12)} bare amqplib, same pattern: ${Math.round(raw).toLocaleString('en-US').padStart(7)} msgs/s ` +
      '(ceiling of this broker on this machine)',
  );
}
if (targets.length > 1) {
  for (const concurrency of CONCURRENCY) {
    const ours = cells.find((c) => c.broker === 'amqp-broker' && c.concurrency === concurrency);
    const rabbit = cells.find((c) => c.broker === 'rabbitmq' && c.concurrency === concurrency);
    if (ours && rabbit) {
      const ratio = (ours.tasksPerSec / rabbit.tasksPerSec).toFixed(2);
      console.log(`  ratio amqp-broker / rabbitmq at concurrency ${concurrency}: ${ratio}`);
    }
  }
}
