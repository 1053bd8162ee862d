/**
 * End-to-end task throughput (`pnpm --filter @dispatcher/amqp-tasks bench:brokers`, the built package): publish with confirms →
 * worker → ack, for no-op tasks with persistent messages, at worker concurrency 1, 16 and 128.
 *
 * The clock runs from the first publish to the last ack; publishes are pipelined with a window of
 * BENCH_WINDOW confirms in flight. The sender and the worker each have their own server (connection), as
 * they usually live in separate processes; one extra cell runs both on one shared connection. Each run uses
 * its own exchange and queue and deletes them afterwards. A last line runs the same pattern on bare amqplib:
 * the ceiling of each broker on this machine.
 *
 * Every cell runs against RabbitMQ and against our broker `@dispatcher/amqp-broker`, which the bench starts in
 * a child process of its own (`broker-process.ts`: the bench client and the broker do not share a thread),
 * one broker after the other per cell; a summary table gives tasks/s per broker and the ratio ours/RabbitMQ.
 *
 * Env: RABBITMQ_URL (default amqp://guest:guest@127.0.0.1:5672), BENCH_BROKER_URL (use this running
 * amqp-broker instead of starting one), BENCH_BROKERS (default `rabbitmq,amqp-broker`), BENCH_TASKS (per
 * cell, default 20000), BENCH_WINDOW (default 1000), BENCH_PREFETCH (worker prefetch; default
 * max(limit, 256)), BENCH_CONCURRENCY (default `1,16,128`), BENCH_SKIP_BASELINE=1 (no bare-amqplib line).
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { connect } from 'amqplib';
import { startBrokerChild } from './broker-child.js';
import { loadBuiltPackage } from './built-package.js';
import { rawBaseline } from './raw-baseline.js';

// The built package, as `bench` runs it (the script builds it first).
const { Server } = await loadBuiltPackage();

const TASKS = Number(process.env.BENCH_TASKS ?? 20_000);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 1_000);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,16,128').split(',').map(Number);
const BROKERS = new Set((process.env.BENCH_BROKERS ?? 'rabbitmq,amqp-broker').split(','));

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

interface Target {
  readonly name: string;
  readonly url: string;
}

const report = (cell: Cell) =>
  console.log(
    `  ${cell.broker.padEnd(12)} concurrency ${String(cell.concurrency).padStart(3)}` +
      `${cell.shared ? ', one shared connection' : ''} (prefetch ${cell.prefetch}): ` +
      `${Math.round(cell.tasksPerSec).toLocaleString('en-US').padStart(7)} tasks/s end to end, ` +
      `publish ${Math.round(cell.publishPerSec).toLocaleString('en-US')} /s`,
  );
const load = () =>
  `load average ${loadavg()
    .map((n) => n.toFixed(2))
    .join(', ')}`;
const perSec = (n: number | undefined) => (n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));

const targets: Target[] = [];
if (BROKERS.has('rabbitmq')) {
  targets.push({ name: 'rabbitmq', url: process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672' });
}
// Our broker: BENCH_BROKER_URL if given, else started here in a child process of its own.
const child =
  BROKERS.has('amqp-broker') && !process.env.BENCH_BROKER_URL ? await startBrokerChild() : undefined;
if (BROKERS.has('amqp-broker')) {
  targets.push({ name: 'amqp-broker', url: process.env.BENCH_BROKER_URL ?? child!.url });
}

/** Rows of the summary: a label and, per broker, the rate measured. */
const rows: Array<{ label: string; rates: Map<string, number> }> = [];
try {
  console.log(
    `amqp-tasks end-to-end: ${TASKS} no-op tasks per cell, persistent, confirms (window ${WINDOW}); ` +
      `brokers: ${targets.map((t) => t.name).join(', ')}` +
      (child ? ` (amqp-broker in child process ${child.pid})` : '') +
      `; ${load()}`,
  );
  // Cells interleave the brokers, so a change in the machine's load hits both alike.
  const cells: Array<{ label: string; concurrency: number; shared: boolean }> = [
    ...CONCURRENCY.map((concurrency) => ({
      label: `concurrency ${concurrency}`,
      concurrency,
      shared: false,
    })),
    { label: 'concurrency 16, one shared connection', concurrency: 16, shared: true },
  ];
  for (const { label, concurrency, shared } of cells) {
    const rates = new Map<string, number>();
    for (const target of targets) {
      const cell = await measure(target.name, target.url, concurrency, shared);
      rates.set(target.name, cell.tasksPerSec);
      report(cell);
    }
    rows.push({ label: `${label} (tasks/s)`, rates });
  }
  if (process.env.BENCH_SKIP_BASELINE !== '1') {
    const rates = new Map<string, number>();
    for (const target of targets) {
      const raw = await rawBaseline(target.url, TASKS, WINDOW, 256);
      rates.set(target.name, raw);
      console.log(
        `  ${target.name.padEnd(12)} bare amqplib, same pattern: ${perSec(raw).padStart(7)} msgs/s ` +
          '(ceiling of this broker on this machine)',
      );
    }
    rows.push({ label: 'bare amqplib, same pattern (msgs/s)', rates });
  }
} finally {
  await child?.stop();
}
console.log(`  ${load()} at the end`);

const width = Math.max(...rows.map((r) => r.label.length));
const header = [''.padEnd(width), ...targets.map((t) => t.name.padStart(12))];
const both = targets.length > 1 && targets.some((t) => t.name === 'amqp-broker');
console.log(`\n${[...header, ...(both ? ['  amqp-broker / rabbitmq'] : [])].join('  ')}`);
for (const { label, rates } of rows) {
  const ours = rates.get('amqp-broker');
  const rabbit = rates.get('rabbitmq');
  const ratio = ours !== undefined && rabbit !== undefined ? (ours / rabbit).toFixed(2) : '—';
  console.log(
    [
      label.padEnd(width),
      ...targets.map((t) => perSec(rates.get(t.name)).padStart(12)),
      ...(both ? [ratio.padStart(23)] : []),
    ].join('  '),
  );
}
