/**
 * amqp-tasks beside BullMQ (`pnpm --filter @dispatcher/amqp-tasks bench`): tasks/s for no-op tasks in the
 * scenarios people compare task queues with, each library with its defaults, in processes of its own.
 *
 * Scenarios (rows): drain a backlog at worker concurrency 1, 16 and 128 (a producer process fills the queue
 * untimed, then a worker process is timed from its start to the last settle); end to end at concurrency 1,
 * 16 and 128 (a live worker process consuming, then a producer process publishing with BENCH_E2E_WINDOW in
 * flight; timed from the first publish to the last settle); publish only with 64 and 1,000 publishes in
 * flight (timed to the last confirm).
 *
 * Columns, alternated within each row (and in reverse order every other round, so a drift in the machine's
 * load hits them alike):
 * - amqp-tasks (the built package, `dist`) on RabbitMQ (`RABBITMQ_URL`) and on our broker
 *   (`@dispatcher/amqp-broker`, started in a child process of its own, or `BENCH_BROKER_URL`): persistent
 *   messages, publisher confirms, defaults.
 * - BullMQ on a private redis-server without persistence, and on another with `appendonly yes` +
 *   `appendfsync everysec` (started through `@dispatcher/tooling`; emptied between cells).
 * - bare amqplib on both AMQP brokers, the same messages: publishing with confirms, and a consumer with the
 *   library's default prefetch for the limit that acks each delivery at once. The ceiling of each broker here.
 *
 * Env: BENCH_TASKS (per cell, default 20000), BENCH_RUNS (rounds; the median is reported, default 2),
 * BENCH_E2E_WINDOW (publishes in flight end to end, default 1000), BENCH_TARGETS (comma-separated column
 * keys, default all: rabbitmq, amqp-broker, bullmq, bullmq-aof, amqplib-rabbitmq, amqplib-amqp-broker),
 * BENCH_SCENARIOS (row keys, default all: drain-1, drain-16, drain-128, e2e-1, e2e-16, e2e-128, publish-64,
 * publish-1000). The default full run took about 5 minutes on the 2-core development machine.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type RedisService, startRedis } from '@dispatcher/tooling';
import { connect } from 'amqplib';
import { Redis } from 'ioredis';
import { type BrokerChild, startBrokerChild } from './broker-child.js';
import type { LoadResult, LoadSpec } from './compare/load-spec.js';
import { spawnJsonLineChild } from './json-line-child.js';

const TASKS = Number(process.env.BENCH_TASKS ?? 20_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const E2E_WINDOW = Number(process.env.BENCH_E2E_WINDOW ?? 1_000);
const FILL_WINDOW = 1_000;
const LOAD_SCRIPT = fileURLToPath(new URL('./compare/load-process.ts', import.meta.url));

interface Scenario {
  readonly key: string;
  readonly label: string;
  readonly kind: 'drain' | 'e2e' | 'publish';
  readonly concurrency: number;
  readonly window: number;
}

const SCENARIOS: readonly Scenario[] = [
  { key: 'drain-1', label: 'drain a backlog, concurrency 1', kind: 'drain', concurrency: 1, window: 0 },
  { key: 'drain-16', label: 'drain, concurrency 16', kind: 'drain', concurrency: 16, window: 0 },
  { key: 'drain-128', label: 'drain, concurrency 128', kind: 'drain', concurrency: 128, window: 0 },
  { key: 'e2e-1', label: 'end to end, concurrency 1', kind: 'e2e', concurrency: 1, window: E2E_WINDOW },
  { key: 'e2e-16', label: 'end to end, concurrency 16', kind: 'e2e', concurrency: 16, window: E2E_WINDOW },
  { key: 'e2e-128', label: 'end to end, concurrency 128', kind: 'e2e', concurrency: 128, window: E2E_WINDOW },
  { key: 'publish-64', label: 'publish only, 64 in flight', kind: 'publish', concurrency: 0, window: 64 },
  {
    key: 'publish-1000',
    label: 'publish only, 1,000 in flight',
    kind: 'publish',
    concurrency: 0,
    window: 1_000,
  },
];

interface Target {
  readonly key: string;
  readonly label: string;
  readonly library: LoadSpec['library'];
  readonly url: string;
  /** Empties the server after a cell. */
  cleanup(queue: string): Promise<void>;
}

const wanted = (env: string | undefined, key: string) => env === undefined || env.split(',').includes(key);
const load = () =>
  `load average ${loadavg()
    .map((n) => n.toFixed(2))
    .join(', ')}`;
const perSec = (n: number | undefined) => (n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));

async function deleteAmqp(url: string, queue: string): Promise<void> {
  const model = await connect(url);
  try {
    const channel = await model.createChannel();
    await channel.deleteQueue(queue);
    await channel.deleteQueue(`${queue}.dead`);
    await channel.deleteExchange(`${queue}.ex`);
  } finally {
    await model.close();
  }
}

async function flushRedis(url: string): Promise<void> {
  const client = new Redis(url);
  try {
    await client.flushall();
  } finally {
    client.disconnect();
  }
}

/** Runs one load process to its ready line (or its result, for `fill`). */
async function launch(spec: LoadSpec) {
  const child = spawnJsonLineChild(LOAD_SCRIPT, [JSON.stringify(spec)]);
  try {
    const first = await child.next(60_000);
    return { child, first };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

async function resultOf(child: ReturnType<typeof spawnJsonLineChild>): Promise<LoadResult> {
  const { result } = await child.next();
  // It closes its connections and exits by itself (a profile, if asked for, is written then).
  await child.stop(10_000);
  return result as LoadResult;
}

/** One cell: tasks/s, and the CPU time of the timed client processes per task. */
interface Measured {
  readonly rate: number;
  readonly cpuMicrosPerTask: number;
}

function measured(results: readonly LoadResult[], startedAt: number, endedAt: number): Measured {
  const tasks = results[0]?.tasks ?? 0;
  const cpu = results.reduce((sum, r) => sum + r.cpuMicros, 0);
  return { rate: tasks / ((endedAt - startedAt) / 1000), cpuMicrosPerTask: cpu / tasks };
}

/** Measures one cell. */
async function measure(target: Target, scenario: Scenario): Promise<Measured> {
  const queue = `dsp-bench.cmp.${randomBytes(4).toString('hex')}`;
  const base = { library: target.library, url: target.url, queue, tasks: TASKS, concurrency: 0, window: 0 };
  const started: Array<ReturnType<typeof spawnJsonLineChild>> = [];
  const workerSpec = (startOnGo: boolean): LoadSpec => ({
    ...base,
    role: 'work',
    concurrency: scenario.concurrency,
    startOnGo,
  });
  try {
    switch (scenario.kind) {
      case 'drain': {
        // The worker first, so the queue exists with the worker's declaration before the backlog.
        const worker = await launch(workerSpec(true));
        started.push(worker.child);
        const fill = await launch({ ...base, role: 'fill', window: FILL_WINDOW, startOnGo: false });
        started.push(fill.child);
        await fill.child.stop(60_000);
        worker.child.send('go');
        const result = await resultOf(worker.child);
        return measured([result], result.startedAt, result.endedAt);
      }
      case 'e2e': {
        const worker = await launch(workerSpec(false));
        started.push(worker.child);
        const producer = await launch({ ...base, role: 'publish', window: scenario.window, startOnGo: true });
        started.push(producer.child);
        worker.child.send('go');
        producer.child.send('go');
        const [work, publish] = await Promise.all([resultOf(worker.child), resultOf(producer.child)]);
        return measured([work, publish], publish.startedAt, work.endedAt);
      }
      case 'publish': {
        const producer = await launch({ ...base, role: 'publish', window: scenario.window, startOnGo: true });
        started.push(producer.child);
        producer.child.send('go');
        const result = await resultOf(producer.child);
        return measured([result], result.startedAt, result.endedAt);
      }
      default:
        throw new Error(`unknown scenario kind ${String(scenario.kind satisfies never)}`);
    }
  } finally {
    for (const child of started) await child.stop();
    await target.cleanup(queue);
  }
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const targetsEnv = process.env.BENCH_TARGETS;
const rabbitUrl = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const needsBroker = wanted(targetsEnv, 'amqp-broker') || wanted(targetsEnv, 'amqplib-amqp-broker');
let broker: BrokerChild | undefined;
const redis: RedisService[] = [];
const targets: Target[] = [];
try {
  if (needsBroker && !process.env.BENCH_BROKER_URL) broker = await startBrokerChild();
  const brokerUrl = process.env.BENCH_BROKER_URL ?? broker?.url ?? '';
  const amqp = (key: string, label: string, library: LoadSpec['library'], url: string) => {
    if (wanted(targetsEnv, key)) {
      targets.push({ key, label, library, url, cleanup: (queue) => deleteAmqp(url, queue) });
    }
  };
  const bull = async (key: string, label: string, extraArgs: readonly string[]) => {
    if (!wanted(targetsEnv, key)) return;
    const server = await startRedis({ extraArgs });
    redis.push(server);
    targets.push({ key, label, library: 'bullmq', url: server.url, cleanup: () => flushRedis(server.url) });
  };
  amqp('rabbitmq', 'amqp-tasks @ RabbitMQ', 'amqp-tasks', rabbitUrl);
  amqp('amqp-broker', 'amqp-tasks @ amqp-broker', 'amqp-tasks', brokerUrl);
  await bull('bullmq', 'BullMQ (no AOF)', []);
  await bull('bullmq-aof', 'BullMQ (AOF everysec)', ['--appendonly', 'yes', '--appendfsync', 'everysec']);
  amqp('amqplib-rabbitmq', 'amqplib @ RabbitMQ', 'amqplib', rabbitUrl);
  amqp('amqplib-amqp-broker', 'amqplib @ amqp-broker', 'amqplib', brokerUrl);

  const scenarios = SCENARIOS.filter((s) => wanted(process.env.BENCH_SCENARIOS, s.key));
  console.log(
    `amqp-tasks vs BullMQ: ${TASKS.toLocaleString('en-US')} no-op tasks per cell, ${RUNS} run(s) per cell ` +
      `(median), each library in processes of its own, defaults (BullMQ: removeOnComplete); amqp: ` +
      `persistent + confirms; end to end with ${E2E_WINDOW} publishes in flight` +
      (broker ? `; amqp-broker in child process ${broker.pid}` : '') +
      `; ${load()}`,
  );
  console.log(`  rows: ${scenarios.map((s) => s.key).join(', ')}`);
  console.log(
    `  columns: ${targets.map((t) => `${t.key} (${t.url.replace(/\/\/[^@/]*@/, '//')})`).join(', ')}`,
  );
  const startedAt = Date.now();
  const table = new Map<string, Map<string, number>>();
  for (const scenario of scenarios) {
    const samples = new Map<string, number[]>();
    for (let run = 0; run < RUNS; run++) {
      for (const target of run % 2 === 0 ? targets : [...targets].reverse()) {
        const { rate, cpuMicrosPerTask } = await measure(target, scenario);
        samples.set(target.key, [...(samples.get(target.key) ?? []), rate]);
        console.log(
          `  ${scenario.label.padEnd(31)} ${target.label.padEnd(25)} ${perSec(rate).padStart(7)} tasks/s ` +
            `(client CPU ${cpuMicrosPerTask.toFixed(1)} µs/task; ${load()})`,
        );
      }
    }
    const row = new Map<string, number>();
    for (const [key, values] of samples) row.set(key, median(values) ?? 0);
    table.set(scenario.key, row);
  }
  console.log(`  ${load()} at the end; ${((Date.now() - startedAt) / 60_000).toFixed(1)} minutes\n`);
  printTable(scenarios, targets, table);
} finally {
  await broker?.stop();
  for (const server of redis) await server.stop();
}

function printTable(
  scenarios: readonly Scenario[],
  columns: readonly Target[],
  table: ReadonlyMap<string, ReadonlyMap<string, number>>,
): void {
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? '—' : `${(a / b).toFixed(2)}×`;
  const ratioColumns: Array<[string, string, string]> = [
    ['rabbitmq', 'bullmq', 'RabbitMQ/BullMQ'],
    ['rabbitmq', 'bullmq-aof', 'RabbitMQ/BullMQ AOF'],
    ['amqp-broker', 'bullmq', 'ours/BullMQ'],
    ['amqp-broker', 'bullmq-aof', 'ours/BullMQ AOF'],
    ['rabbitmq', 'amqplib-rabbitmq', 'RabbitMQ/amqplib'],
    ['amqp-broker', 'amqplib-amqp-broker', 'ours/amqplib'],
  ];
  const present = new Set(columns.map((c) => c.key));
  const ratios = ratioColumns.filter(([a, b]) => present.has(a) && present.has(b));
  const width = Math.max(...scenarios.map((s) => s.label.length), 'tasks/s'.length);
  const header = [
    'tasks/s'.padEnd(width),
    ...columns.map((c) => c.label.padStart(Math.max(c.label.length, 9))),
    ...ratios.map(([, , label]) => label.padStart(Math.max(label.length, 6))),
  ];
  console.log(header.join(' | '));
  for (const scenario of scenarios) {
    const row = table.get(scenario.key);
    console.log(
      [
        scenario.label.padEnd(width),
        ...columns.map((c) => perSec(row?.get(c.key)).padStart(Math.max(c.label.length, 9))),
        ...ratios.map(([a, b, label]) => ratio(row?.get(a), row?.get(b)).padStart(Math.max(label.length, 6))),
      ].join(' | '),
    );
  }
}
