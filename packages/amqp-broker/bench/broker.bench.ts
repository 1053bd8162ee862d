/**
 * Throughput and latency of our broker next to RabbitMQ, same load, same run:
 *
 *   pnpm --filter @dispatcher/amqp-broker bench
 *
 * Our broker runs in its own process (bench/broker-process.ts); the load comes from separate client
 * processes (bench/load-client.ts) speaking pre-encoded AMQP frames, so neither shares an event loop with
 * the broker. Producers publish transient messages unthrottled (like RabbitMQ's PerfTest); consumers
 * ack every message unless the scenario says auto-ack. Each scenario warms up, then measures a window;
 * publish and delivery rates are counted at the clients, latency is send → delivery (including any
 * queue backlog the unthrottled producers build up).
 *
 * Environment: RABBITMQ_URL (default amqp://guest:guest@127.0.0.1:5672; unreachable → ours only),
 * BENCH_SECONDS (measure window, default 4), BENCH_WARMUP_SECONDS (default 1), BENCH_SCENARIOS (comma-
 * separated ids, e.g. "a,d"), BENCH_TARGETS ("ours,rabbitmq"), BENCH_CPU_PROF=<dir> (profile our broker
 * process with --cpu-prof into <dir>), BENCH_RATE=<msg/s per producer> (fixed publish rate instead of
 * unthrottled: latency without a backlog).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import type { BrokerProcessStats } from './broker-process.js';
import { LatencyHistogram } from './latency-histogram.js';
import type { ClientMessage, LoadClientConfig, ParentCommand } from './load-client.js';

interface Scenario {
  id: string;
  title: string;
  producers: number;
  /** Consumer processes; queue i goes to process i % consumerProcesses. */
  consumerProcesses: number;
  queues: number;
  fanout: boolean;
  bodyBytes: number;
  qos: number;
  noAck: boolean;
}

const SCENARIOS: Scenario[] = [
  {
    id: 'a',
    title: '1 producer / 1 consumer, 16 B, auto-ack',
    producers: 1,
    consumerProcesses: 1,
    queues: 1,
    fanout: false,
    bodyBytes: 16,
    qos: 0,
    noAck: true,
  },
  {
    id: 'b',
    title: '2 producers / 4 consumers, 16 B, qos 100, acks',
    producers: 2,
    consumerProcesses: 4,
    queues: 1,
    fanout: false,
    bodyBytes: 16,
    qos: 100,
    noAck: false,
  },
  {
    id: 'c',
    title: '1 producer / 1 consumer, 4 KiB, auto-ack',
    producers: 1,
    consumerProcesses: 1,
    queues: 1,
    fanout: false,
    bodyBytes: 4096,
    qos: 0,
    noAck: true,
  },
  {
    id: 'd',
    title: 'fan-out to 10 queues, 1 producer / 2 consumer procs, 16 B, qos 100, acks',
    producers: 1,
    consumerProcesses: 2,
    queues: 10,
    fanout: true,
    bodyBytes: 16,
    qos: 100,
    noAck: false,
  },
];

interface Result {
  publishPerSec: number;
  deliverPerSec: number;
  p50Ms: number;
  p99Ms: number;
  brokerCpuPct?: number;
  /** Our broker's event-loop delay during the window (a long turn delays every connection). */
  loopP99Ms?: number;
  loopMaxMs?: number;
  rssMiB?: number;
  /** The busiest load-generator process, % of one core (near 100 would mean the client limits the rate). */
  busiestClientCpuPct: number;
}

const measureSeconds = Number(process.env.BENCH_SECONDS ?? 4);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const rabbitUrl = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const onlyScenarios = process.env.BENCH_SCENARIOS?.split(',').map((s) => s.trim());
const targets = (process.env.BENCH_TARGETS ?? 'ours,rabbitmq').split(',').map((s) => s.trim());
const cpuProfDir = process.env.BENCH_CPU_PROF;
const ratePerSec = Number(process.env.BENCH_RATE ?? 0);
const tsx = ['--import', 'tsx'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startOurBroker(): Promise<{ url: string; child: ChildProcess }> {
  const child = fork(fileURLToPath(new URL('./broker-process.ts', import.meta.url)), [], {
    execArgv: [...tsx, ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [message] = (await once(child, 'message')) as [{ port: number }];
  return { url: `amqp://guest:guest@127.0.0.1:${message.port}`, child };
}

async function stopOurBroker(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.send('stop');
  await Promise.race([exited, sleep(10_000)]);
  child.kill('SIGKILL');
}

/** Our broker's CPU use: sum of utime+stime from /proc, in seconds (Linux only; undefined elsewhere). */
async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const { readFile } = await import('node:fs/promises');
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

class Client {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  #pending: ((m: ClientMessage) => void) | undefined;
  failure: string | undefined;

  constructor(config: LoadClientConfig) {
    this.child = fork(fileURLToPath(new URL('./load-client.ts', import.meta.url)), [JSON.stringify(config)], {
      execArgv: tsx,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.ready = new Promise<void>((resolve, reject) => {
      this.child.on('message', (m: ClientMessage) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'error') {
          this.failure = m.message;
          reject(new Error(m.message));
        } else {
          this.#pending?.(m);
        }
      });
      this.child.once('exit', (code) => reject(new Error(`load client exited with ${code}`)));
    });
  }

  command(cmd: ParentCommand): void {
    if (this.child.connected) this.child.send(cmd);
  }

  report(): Promise<Extract<ClientMessage, { type: 'report' }>> {
    return new Promise((resolve) => {
      this.#pending = (m) => {
        if (m.type === 'report') resolve(m);
      };
      this.command('report');
    });
  }
}

async function brokerStats(broker: ChildProcess): Promise<BrokerProcessStats> {
  const reply = new Promise<BrokerProcessStats>((resolve) => {
    const onMessage = (m: { stats?: BrokerProcessStats }) => {
      if (m.stats === undefined) return;
      broker.off('message', onMessage);
      resolve(m.stats);
    };
    broker.on('message', onMessage);
  });
  broker.send('stats');
  return reply;
}

async function runScenario(s: Scenario, url: string, broker: ChildProcess | undefined): Promise<Result> {
  const brokerPid = broker?.pid;
  const prefix = `dsp-bench-${process.pid}-${s.id}`;
  const exchange = `${prefix}-x`;
  const queues = Array.from({ length: s.queues }, (_, i) => `${prefix}-q${i}`);
  const admin = await amqp.connect(url);
  const ch = await admin.createChannel();
  await ch.assertExchange(exchange, s.fanout ? 'fanout' : 'direct', { durable: false, autoDelete: false });
  for (const q of queues) {
    await ch.assertQueue(q, { durable: false, autoDelete: false });
    await ch.bindQueue(q, exchange, s.fanout ? '' : q);
  }
  const clients: Client[] = [];
  try {
    const base = { url, exchange, bodyBytes: s.bodyBytes, qos: s.qos, noAck: s.noAck, ratePerSec };
    for (let i = 0; i < s.consumerProcesses; i++) {
      const mine = queues.filter((_, q) => q % s.consumerProcesses === i);
      // Several consumers on one queue: every process consumes the same queue.
      const consumed = mine.length > 0 ? mine : [queues[0] as string];
      clients.push(new Client({ ...base, role: 'consumer', routingKey: '', queues: consumed }));
    }
    for (let i = 0; i < s.producers; i++) {
      clients.push(new Client({ ...base, role: 'producer', routingKey: queues[0] as string, queues: [] }));
    }
    await Promise.all(clients.map((c) => c.ready));
    for (const c of clients) c.command('go');
    await sleep(warmupSeconds * 1000);
    for (const c of clients) c.command('mark');
    broker?.send('mark');
    const cpuBefore = await cpuSeconds(brokerPid);
    await sleep(measureSeconds * 1000);
    const cpuAfter = await cpuSeconds(brokerPid);
    const reports = await Promise.all(clients.map((c) => c.report()));
    const stats = broker ? await brokerStats(broker) : undefined;
    const failed = clients.find((c) => c.failure);
    if (failed) throw new Error(failed.failure);
    const histogram = new LatencyHistogram();
    let published = 0;
    let delivered = 0;
    let elapsedMs = 0;
    let busiestCpuMs = 0;
    for (const r of reports) {
      busiestCpuMs = Math.max(busiestCpuMs, r.cpuMs);
      published += r.published;
      delivered += r.delivered;
      elapsedMs = Math.max(elapsedMs, r.elapsedMs);
      histogram.merge(new LatencyHistogram(r.histogram));
    }
    const seconds = elapsedMs / 1000;
    return {
      publishPerSec: published / seconds,
      deliverPerSec: delivered / seconds,
      p50Ms: histogram.quantileMs(0.5),
      p99Ms: histogram.quantileMs(0.99),
      busiestClientCpuPct: (busiestCpuMs / elapsedMs) * 100,
      ...(cpuBefore !== undefined && cpuAfter !== undefined
        ? { brokerCpuPct: ((cpuAfter - cpuBefore) / seconds) * 100 }
        : {}),
      ...(stats ? { loopP99Ms: stats.loopP99Ms, loopMaxMs: stats.loopMaxMs, rssMiB: stats.rssMiB } : {}),
    };
  } finally {
    for (const c of clients) c.command('stop');
    await Promise.all(clients.map((c) => (c.child.exitCode === null ? once(c.child, 'exit') : undefined)));
    for (const q of queues) await ch.deleteQueue(q).catch(() => undefined);
    await ch.deleteExchange(exchange).catch(() => undefined);
    await admin.close().catch(() => undefined);
  }
}

async function reachable(url: string): Promise<boolean> {
  try {
    const c = await amqp.connect(url);
    await c.close();
    return true;
  } catch {
    return false;
  }
}

const fmtRate = (n: number | undefined) =>
  n === undefined || Number.isNaN(n)
    ? '—'
    : n >= 10_000
      ? `${Math.round(n / 1000)}k`
      : `${(n / 1000).toFixed(1)}k`;
const fmtMs = (n: number | undefined) =>
  n === undefined || Number.isNaN(n) ? '—' : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
const fmtRatio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !b ? '—' : `${(a / b).toFixed(2)}×`;

async function main(): Promise<void> {
  const scenarios = SCENARIOS.filter((s) => !onlyScenarios || onlyScenarios.includes(s.id));
  const runRabbit = targets.includes('rabbitmq') && (await reachable(rabbitUrl));
  if (targets.includes('rabbitmq') && !runRabbit)
    console.log(`RabbitMQ not reachable at ${rabbitUrl}: ours only`);
  const load = loadavg().map((l) => l.toFixed(2));
  console.log(
    `amqp-broker bench: ${cpus().length} CPUs, load average ${load.join(' ')} at start; ` +
      `${warmupSeconds}s warm-up + ${measureSeconds}s measured per scenario and broker; ` +
      (ratePerSec > 0 ? `producers at ${ratePerSec} msg/s each` : 'producers unthrottled'),
  );
  const ours = targets.includes('ours') ? await startOurBroker() : undefined;
  const results = new Map<string, { ours?: Result; rabbit?: Result }>();
  try {
    for (const s of scenarios) {
      const row: { ours?: Result; rabbit?: Result } = {};
      results.set(s.id, row);
      if (ours) {
        row.ours = await runScenario(s, ours.url, ours.child);
        console.log(
          `  ${s.id} ours    ${JSON.stringify(row.ours, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v))}`,
        );
      }
      if (runRabbit) {
        row.rabbit = await runScenario(s, rabbitUrl, undefined);
        console.log(
          `  ${s.id} rabbit  ${JSON.stringify(row.rabbit, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v))}`,
        );
      }
    }
  } finally {
    if (ours) await stopOurBroker(ours.child);
  }

  const header = [
    'scenario',
    'publish/s ours',
    'RabbitMQ',
    'ratio',
    'deliver/s ours',
    'RabbitMQ',
    'ratio',
    'p50 ms ours',
    'RabbitMQ',
    'p99 ms ours',
    'RabbitMQ',
    'our CPU',
    'our loop p99 ms',
  ];
  const lines = scenarios.map((s) => {
    const r = results.get(s.id) ?? {};
    return [
      `${s.id}) ${s.title}`,
      fmtRate(r.ours?.publishPerSec),
      fmtRate(r.rabbit?.publishPerSec),
      fmtRatio(r.ours?.publishPerSec, r.rabbit?.publishPerSec),
      fmtRate(r.ours?.deliverPerSec),
      fmtRate(r.rabbit?.deliverPerSec),
      fmtRatio(r.ours?.deliverPerSec, r.rabbit?.deliverPerSec),
      fmtMs(r.ours?.p50Ms),
      fmtMs(r.rabbit?.p50Ms),
      fmtMs(r.ours?.p99Ms),
      fmtMs(r.rabbit?.p99Ms),
      r.ours?.brokerCpuPct === undefined ? '—' : `${r.ours.brokerCpuPct.toFixed(0)}%`,
      fmtMs(r.ours?.loopP99Ms),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  console.log();
  console.log(row(header));
  console.log(row(widths.map((w) => '-'.repeat(w))));
  for (const l of lines) console.log(row(l));
  console.log(
    `\nratio = ours / RabbitMQ (> 1 is better for rates). our CPU = our broker process, % of one core. ` +
      `Load average at end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
