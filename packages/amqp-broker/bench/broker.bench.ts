/**
 * Throughput and latency of our broker next to RabbitMQ, same load, same run:
 *
 *   pnpm --filter @dispatcher/amqp-broker bench
 *
 * Our broker runs in its own process (bench/broker-process.js, the built dist/); the load comes from
 * separate client processes (bench/load-client.ts) speaking pre-encoded AMQP frames, so neither shares an
 * event loop with the broker. In (a)–(d) producers publish transient messages unthrottled (like RabbitMQ's
 * PerfTest); consumers ack every message unless the scenario says auto-ack. Each scenario warms up, then
 * measures a window; publish and delivery rates are counted at the clients, latency is send → delivery
 * (including any queue backlog the unthrottled producers build up).
 *
 * Persistence scenarios (the broker's durability issue): (p1)–(p3) publish persistent messages to a durable
 * queue with publisher confirms (at most 1,000 unconfirmed; publish/s counts confirmed messages), one
 * consumer with qos 100 acking with multiple=true; (g) publishes a backlog with nobody consuming, then
 * drains it. Our broker gets a fresh process and a fresh `persistDir` (default persistFsync: a confirm only
 * after fdatasync) for each of them, so its peak RSS is that scenario's.
 *
 * Environment: RABBITMQ_URL (default amqp://guest:guest@127.0.0.1:5672; unreachable → ours only),
 * BENCH_SECONDS (measure window, default 4), BENCH_WARMUP_SECONDS (default 1), BENCH_SCENARIOS (comma-
 * separated ids, e.g. "a,d" or "p1,g"), BENCH_TARGETS ("ours,rabbitmq"), BENCH_CPU_PROF=<dir> (profile our
 * broker processes with --cpu-prof into <dir>), BENCH_RATE=<msg/s per producer> (fixed publish rate
 * instead of unthrottled: latency without a backlog), BENCH_PERSIST_PARENT (where our broker's persistDir
 * is created, default the OS temp dir), BENCH_BACKLOG_MESSAGES or --backlog-messages=N (g's message count, default 1000000),
 * BENCH_BACKLOG_TIMEOUT_SECONDS (per phase of g, default 600), BENCH_BROKER_FROM=src (our broker from src/
 * through tsx), BENCH_BROKER_NODE_ARGS, BENCH_MEM_TRACE, BENCH_HEAP_PROF (see bench/README.md).
 */
import { type ChildProcess, execFile, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ForkedChild, forkChild } from '@dispatcher/tooling/child-harness';
import amqp from 'amqplib';
import type { BrokerServerOptions } from '../src/index.js';
import { LatencyHistogram } from './latency-histogram.js';
import type { ClientMessage, ClientReport, LoadClientConfig, ParentCommand } from './load-client.js';

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
  /** Persistent messages (delivery mode 2), durable exchange and queues; our broker with a `persistDir`. */
  persistent?: boolean;
  /** Publisher confirms, at most this many unconfirmed per producer. */
  confirmWindow?: number;
  /** Consumers ack with multiple=true every this many deliveries (and every few ms). */
  multiAckEvery?: number;
  /** Instead of a timed window: publish BENCH_BACKLOG_MESSAGES with nobody consuming, then drain them. */
  backlog?: boolean;
}

/** p1–p3 and g: the durability issue's load (RabbitMQ PerfTest's `-f persistent -c 1000 -q 100 --multi-ack-every`). */
const PERSISTENT = {
  producers: 1,
  consumerProcesses: 1,
  queues: 1,
  fanout: false,
  qos: 100,
  noAck: false,
  persistent: true,
  confirmWindow: 1000,
  multiAckEvery: 50,
} as const;
const backlogFlag = process.argv.find((a) => a.startsWith('--backlog-messages='))?.split('=')[1];
const backlogMessages = Number(backlogFlag ?? process.env.BENCH_BACKLOG_MESSAGES ?? 1_000_000);
if (!Number.isInteger(backlogMessages) || backlogMessages <= 0) {
  throw new Error(
    `the backlog size must be a positive integer, got ${String(backlogFlag ?? process.env.BENCH_BACKLOG_MESSAGES)}`,
  );
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
  {
    id: 'p1',
    title: 'persistent + confirms (1,000 window), 16 B, qos 100, multi-ack',
    bodyBytes: 16,
    ...PERSISTENT,
  },
  {
    id: 'p2',
    title: 'persistent + confirms (1,000 window), 1 KiB, qos 100, multi-ack',
    bodyBytes: 1024,
    ...PERSISTENT,
  },
  {
    id: 'p3',
    title: 'persistent + confirms (1,000 window), 4 KiB, qos 100, multi-ack',
    bodyBytes: 4096,
    ...PERSISTENT,
  },
  {
    id: 'g',
    title: `backlog: ${backlogMessages.toLocaleString('en')} × 1 KiB persistent, confirmed, then drained (qos 100, multi-ack)`,
    bodyBytes: 1024,
    ...PERSISTENT,
    backlog: true,
  },
];

interface Result {
  publishPerSec: number;
  deliverPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Send → confirm, with publisher confirms. */
  confirmP50Ms?: number;
  confirmP99Ms?: number;
  /** Messages the broker nacked (publisher confirms). */
  nacked: number;
  brokerCpuPct?: number;
  /** Our broker's event-loop delay during the window (a long turn delays every connection). */
  loopP99Ms?: number;
  loopMaxMs?: number;
  rssMiB?: number;
  /** Our broker process's peak RSS since it started (a fresh process per persistent scenario). */
  peakRssMiB?: number;
  /** The busiest load-generator process, % of one core (near 100 would mean the client limits the rate). */
  busiestClientCpuPct: number;
}

/** (g): both phases counted from their first message to their last, at the clients. */
interface BacklogResult {
  messages: number;
  /** Confirmed publishes per second while nobody consumes. */
  publishPerSec: number;
  /** Deliveries per second from the consumer's first delivery to its last. */
  drainPerSec: number;
  nacked: number;
  /** False when a phase hit BENCH_BACKLOG_TIMEOUT_SECONDS (its rate is then what it reached). */
  complete: boolean;
  publishCpuPct?: number;
  drainCpuPct?: number;
  rssAfterPublishMiB?: number;
  rssAfterDrainMiB?: number;
  peakRssMiB?: number;
}

const measureSeconds = Number(process.env.BENCH_SECONDS ?? 4);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const rabbitUrl = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const onlyScenarios = process.env.BENCH_SCENARIOS?.split(',').map((s) => s.trim());
const targets = (process.env.BENCH_TARGETS ?? 'ours,rabbitmq').split(',').map((s) => s.trim());
const cpuProfDir = process.env.BENCH_CPU_PROF;
const ratePerSec = Number(process.env.BENCH_RATE ?? 0);
const persistParent = process.env.BENCH_PERSIST_PARENT ?? tmpdir();
const backlogTimeoutMs = Number(process.env.BENCH_BACKLOG_TIMEOUT_SECONDS ?? 600) * 1000;
const tsx = ['--import', 'tsx'];
/** BENCH_BROKER_FROM: our broker loads the built `dist/` (default, as dispatchd) or `src/` (via tsx). */
const brokerFromSrc = process.env.BENCH_BROKER_FROM === 'src';
/** BENCH_BROKER_NODE_ARGS: extra Node/V8 flags for our broker process only (e.g. "--trace-gc"). */
const brokerNodeArgs = (process.env.BENCH_BROKER_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');

/** What `broker-process.js` answers to 'stats'. */
export interface BrokerProcessStats {
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
  rssMiB: number;
  /** The process's peak resident set size since it started (getrusage maxrss, as /proc VmHWM). */
  peakRssMiB: number;
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Our broker process (tooling's child harness): its first message, and 'mark' / 'stats' / 'stop'. */
type BrokerProcess = ForkedChild<{ port: number; adminPort?: number }>;

interface OurBroker {
  url: string;
  process: BrokerProcess;
  /** The management listener's port (started with `withAdmin`). */
  adminPort?: number | undefined;
}

async function startOurBroker(options: BrokerServerOptions = {}, withAdmin = false): Promise<OurBroker> {
  const child: BrokerProcess = await forkChild(
    fileURLToPath(new URL('./broker-process.js', import.meta.url)),
    {
      args: [JSON.stringify(options)],
      execArgv: [
        ...(brokerFromSrc ? tsx : []),
        ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []),
        ...brokerNodeArgs,
      ],
      env: { ...process.env, BENCH_ADMIN: withAdmin ? '1' : '0' },
    },
  );
  const { port, adminPort } = child.ready;
  return { url: `amqp://guest:guest@127.0.0.1:${port}`, process: child, adminPort };
}

/** 'stop', then SIGKILL if the broker has not exited within 10 s. */
async function stopOurBroker(broker: OurBroker): Promise<void> {
  await broker.process.stop(10_000);
}

/** Our broker's CPU use: sum of utime+stime from /proc, in seconds (Linux only; undefined elsewhere). */
async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

class Client {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  /** Resolves with the client's 'done' report (clients with `stopAfter`). */
  readonly finished: Promise<ClientReport>;
  #pending: ((m: ClientMessage) => void) | undefined;
  #finish: ((r: ClientReport) => void) | undefined;
  failure: string | undefined;

  constructor(config: LoadClientConfig) {
    this.child = fork(fileURLToPath(new URL('./load-client.ts', import.meta.url)), [JSON.stringify(config)], {
      execArgv: tsx,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.finished = new Promise<ClientReport>((resolve) => {
      this.#finish = resolve;
    });
    this.ready = new Promise<void>((resolve, reject) => {
      this.child.on('message', (m: ClientMessage) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'done') this.#finish?.(m);
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

  report(): Promise<ClientReport> {
    return new Promise((resolve) => {
      this.#pending = (m) => {
        if (m.type === 'report') resolve(m);
      };
      this.command('report');
    });
  }
}

async function brokerStats(broker: BrokerProcess): Promise<BrokerProcessStats> {
  return (await broker.request<{ stats: BrokerProcessStats }>('stats', 'stats')).stats;
}

interface Topology {
  exchange: string;
  queues: string[];
  /** Load clients of the scenario, stopped when it ends. */
  clients: Client[];
  /** A load client for this scenario's topology; `stopAfter` as in LoadClientConfig. */
  client(role: 'producer' | 'consumer', stopAfter?: number, consumed?: string[]): Client;
}

/** Declares the scenario's exchange and queues, runs `fn`, then stops its clients and deletes them. */
async function withTopology<T>(s: Scenario, url: string, fn: (t: Topology) => Promise<T>): Promise<T> {
  const prefix = `dsp-bench-${process.pid}-${s.id}`;
  const exchange = `${prefix}-x`;
  const queues = Array.from({ length: s.queues }, (_, i) => `${prefix}-q${i}`);
  const durable = s.persistent === true;
  const admin = await amqp.connect(url);
  const ch = await admin.createChannel();
  await ch.assertExchange(exchange, s.fanout ? 'fanout' : 'direct', { durable, autoDelete: false });
  for (const q of queues) {
    await ch.assertQueue(q, { durable, autoDelete: false });
    await ch.bindQueue(q, exchange, s.fanout ? '' : q);
  }
  const clients: Client[] = [];
  const client = (role: 'producer' | 'consumer', stopAfter = 0, consumed: string[] = []): Client => {
    const c = new Client({
      url,
      role,
      exchange,
      routingKey: role === 'producer' ? (queues[0] as string) : '',
      queues: consumed,
      bodyBytes: s.bodyBytes,
      qos: s.qos,
      noAck: s.noAck,
      ratePerSec,
      persistent: durable,
      confirmWindow: s.confirmWindow ?? 0,
      multiAckEvery: s.multiAckEvery ?? 0,
      stopAfter,
    });
    clients.push(c);
    return c;
  };
  try {
    return await fn({ exchange, queues, clients, client });
  } finally {
    for (const c of clients) c.command('stop');
    await Promise.all(clients.map((c) => (c.child.exitCode === null ? once(c.child, 'exit') : undefined)));
    for (const q of queues) await ch.deleteQueue(q).catch(() => undefined);
    await ch.deleteExchange(exchange).catch(() => undefined);
    await admin.close().catch(() => undefined);
  }
}

function throwIfFailed(clients: Client[]): void {
  const failed = clients.find((c) => c.failure);
  if (failed) throw new Error(failed.failure);
}

/** A timed scenario: warm-up, then a measured window. */
function runScenario(s: Scenario, url: string, broker: BrokerProcess | undefined): Promise<Result> {
  const brokerPid = broker?.child.pid;
  return withTopology(s, url, async ({ queues, clients, client }) => {
    for (let i = 0; i < s.consumerProcesses; i++) {
      const mine = queues.filter((_, q) => q % s.consumerProcesses === i);
      // Several consumers on one queue: every process consumes the same queue.
      client('consumer', 0, mine.length > 0 ? mine : [queues[0] as string]);
    }
    for (let i = 0; i < s.producers; i++) client('producer');
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
    throwIfFailed(clients);
    const histogram = new LatencyHistogram();
    const confirms = new LatencyHistogram();
    let published = 0;
    let nacked = 0;
    let delivered = 0;
    let elapsedMs = 0;
    let busiestCpuMs = 0;
    for (const r of reports) {
      busiestCpuMs = Math.max(busiestCpuMs, r.cpuMs);
      published += r.published;
      nacked += r.nacked;
      delivered += r.delivered;
      elapsedMs = Math.max(elapsedMs, r.elapsedMs);
      histogram.merge(new LatencyHistogram(r.histogram));
      confirms.merge(new LatencyHistogram(r.confirmHistogram));
    }
    const seconds = elapsedMs / 1000;
    return {
      publishPerSec: published / seconds,
      deliverPerSec: delivered / seconds,
      p50Ms: histogram.quantileMs(0.5),
      p99Ms: histogram.quantileMs(0.99),
      ...(s.confirmWindow
        ? { confirmP50Ms: confirms.quantileMs(0.5), confirmP99Ms: confirms.quantileMs(0.99) }
        : {}),
      nacked,
      busiestClientCpuPct: (busiestCpuMs / elapsedMs) * 100,
      ...(cpuBefore !== undefined && cpuAfter !== undefined
        ? { brokerCpuPct: ((cpuAfter - cpuBefore) / seconds) * 100 }
        : {}),
      ...(stats
        ? {
            loopP99Ms: stats.loopP99Ms,
            loopMaxMs: stats.loopMaxMs,
            rssMiB: stats.rssMiB,
            peakRssMiB: stats.peakRssMiB,
          }
        : {}),
    };
  });
}

/** Waits for a client's 'done' report, or takes its report so far after the timeout. */
async function finishedOrTimedOut(c: Client): Promise<{ report: ClientReport; complete: boolean }> {
  const timeout = sleep(backlogTimeoutMs).then(() => undefined);
  const report = await Promise.race([c.finished, timeout]);
  return report ? { report, complete: true } : { report: await c.report(), complete: false };
}

/** (g): publish the backlog with nobody consuming, then drain it with one consumer. */
function runBacklog(s: Scenario, url: string, broker: BrokerProcess | undefined): Promise<BacklogResult> {
  const brokerPid = broker?.child.pid;
  const cpuPct = (before: number | undefined, after: number | undefined, ms: number) =>
    before === undefined || after === undefined ? undefined : ((after - before) / (ms / 1000)) * 100;
  return withTopology(s, url, async ({ queues, clients, client }) => {
    const producer = client('producer', backlogMessages);
    await producer.ready;
    producer.command('mark');
    let cpu = await cpuSeconds(brokerPid);
    producer.command('go');
    const published = await finishedOrTimedOut(producer);
    const publishCpuPct = cpuPct(cpu, await cpuSeconds(brokerPid), published.report.elapsedMs);
    throwIfFailed(clients);
    const afterPublish = broker ? await brokerStats(broker) : undefined;
    cpu = await cpuSeconds(brokerPid);
    const consumer = client('consumer', published.report.published, [queues[0] as string]);
    const drained = await finishedOrTimedOut(consumer);
    const drainCpuPct = cpuPct(cpu, await cpuSeconds(brokerPid), drained.report.elapsedMs);
    throwIfFailed(clients);
    const afterDrain = broker ? await brokerStats(broker) : undefined;
    return {
      messages: published.report.published,
      publishPerSec: published.report.published / (published.report.elapsedMs / 1000),
      drainPerSec: drained.report.delivered / (drained.report.elapsedMs / 1000),
      nacked: published.report.nacked,
      complete: published.complete && drained.complete,
      ...(publishCpuPct === undefined ? {} : { publishCpuPct }),
      ...(drainCpuPct === undefined ? {} : { drainCpuPct }),
      ...(afterPublish && afterDrain
        ? {
            rssAfterPublishMiB: afterPublish.rssMiB,
            rssAfterDrainMiB: afterDrain.rssMiB,
            peakRssMiB: afterDrain.peakRssMiB,
          }
        : {}),
    };
  });
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

const fmtMiB = (n: number | undefined) => (n === undefined ? '—' : n.toFixed(0));
const fmtPct = (n: number | undefined) => (n === undefined ? '—' : `${n.toFixed(0)}%`);
const logJson = (id: string, who: string, r: Result | BacklogResult) =>
  console.log(
    `  ${id} ${who.padEnd(7)} ${JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v))}`,
  );

function printTable(header: string[], lines: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  console.log();
  console.log(row(header));
  console.log(row(widths.map((w) => '-'.repeat(w))));
  for (const l of lines) console.log(row(l));
}

interface Both<R> {
  ours?: R;
  rabbit?: R;
}

/** A rate's cells: ours, RabbitMQ's, the ratio. */
function rateCells<R, K extends keyof R>(both: Both<R>, key: K): string[] {
  const ours = both.ours?.[key] as number | undefined;
  const rabbit = both.rabbit?.[key] as number | undefined;
  return [fmtRate(ours), fmtRate(rabbit), fmtRatio(ours, rabbit)];
}

/** The durability issue's targets: ≥ 1.5× RabbitMQ's confirmed publishes in p1–p3, RSS ≤ 300 MB in (g). */
const TARGET_RATIO = 1.5;
const TARGET_RSS_BYTES = 300e6;

/**
 * Runs `fn` against our broker: the shared one, or for a persistent scenario a fresh process with a fresh
 * `persistDir` (removed afterwards) — so recovery, the log and the peak RSS are the scenario's own.
 */
async function onOurBroker<T>(
  s: Scenario,
  shared: OurBroker | undefined,
  fn: (b: OurBroker) => Promise<T>,
): Promise<T> {
  if (!s.persistent && shared) return fn(shared);
  const persistDir = await mkdtemp(join(persistParent, `dsp-bench-${s.id}-`));
  const broker = await startOurBroker({ persistDir });
  try {
    return await fn(broker);
  } finally {
    await stopOurBroker(broker);
    await rm(persistDir, { recursive: true, force: true });
  }
}

/**
 * Our broker runs from `dist/`: brings it up to date with `src/` first (the package build's incremental
 * `tsc -b`, quick when nothing changed), so the run never benches stale code.
 */
async function buildBroker(): Promise<void> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const root = fileURLToPath(new URL('..', import.meta.url));
  await promisify(execFile)(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: root }).catch(
    (err: { stdout?: string }) => {
      throw new Error(
        `building our broker failed (or set BENCH_BROKER_FROM=src):\n${err.stdout ?? String(err)}`,
      );
    },
  );
}

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
  console.log(`scenarios: ${scenarios.map((s) => `${s.id}) ${s.title}`).join('; ')}`);
  if (scenarios.some((s) => s.persistent))
    console.log(
      `persistent scenarios: our broker in a fresh process with persistDir in ${persistParent} (default ` +
        'persistFsync: confirms only after fdatasync), durable exchange and queue on both brokers',
    );
  const runOurs = targets.includes('ours');
  if (runOurs && !brokerFromSrc) await buildBroker();
  console.log(`our broker: ${brokerFromSrc ? 'src/ via tsx (its loader adds ~35 MiB RSS)' : 'built dist/'}`);
  const shared = runOurs && scenarios.some((s) => !s.persistent) ? await startOurBroker() : undefined;
  const results = new Map<string, Both<Result>>();
  const backlogs = new Map<string, Both<BacklogResult>>();
  /** Runs a scenario on our broker, then on RabbitMQ, logging each result. */
  const onBoth = async <R extends Result | BacklogResult>(
    s: Scenario,
    run: (url: string, broker: BrokerProcess | undefined) => Promise<R>,
  ): Promise<Both<R>> => {
    const both: Both<R> = {};
    if (runOurs) {
      both.ours = await onOurBroker(s, shared, (b) => run(b.url, b.process));
      logJson(s.id, 'ours', both.ours);
    }
    if (runRabbit) {
      both.rabbit = await run(rabbitUrl, undefined);
      logJson(s.id, 'rabbit', both.rabbit);
    }
    return both;
  };
  try {
    for (const s of scenarios) {
      if (s.backlog) backlogs.set(s.id, await onBoth(s, (url, b) => runBacklog(s, url, b)));
      else results.set(s.id, await onBoth(s, (url, b) => runScenario(s, url, b)));
    }
  } finally {
    if (shared) await stopOurBroker(shared);
  }

  const timed = scenarios.filter((s) => !s.backlog);
  if (timed.length > 0) {
    printTable(
      [
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
        'confirm p50/p99 ms ours',
        'RabbitMQ',
        'our CPU',
        'our RSS MiB',
        'our loop p99 ms',
      ],
      timed.map((s) => {
        const r = results.get(s.id) ?? {};
        const confirm = (x: Result | undefined) =>
          x?.confirmP50Ms === undefined ? '—' : `${fmtMs(x.confirmP50Ms)} / ${fmtMs(x.confirmP99Ms)}`;
        return [
          `${s.id}) ${s.title}`,
          ...rateCells(r, 'publishPerSec'),
          ...rateCells(r, 'deliverPerSec'),
          fmtMs(r.ours?.p50Ms),
          fmtMs(r.rabbit?.p50Ms),
          fmtMs(r.ours?.p99Ms),
          fmtMs(r.rabbit?.p99Ms),
          confirm(r.ours),
          confirm(r.rabbit),
          fmtPct(r.ours?.brokerCpuPct),
          fmtMiB(r.ours?.rssMiB),
          fmtMs(r.ours?.loopP99Ms),
        ];
      }),
    );
    console.log(
      '\nratio = ours / RabbitMQ (> 1 is better for rates); with confirms, publish/s counts confirmed messages. ' +
        'our CPU = our broker process, % of one core; our RSS at the end of the window.',
    );
  }
  const backlogScenarios = scenarios.filter((s) => s.backlog);
  if (backlogScenarios.length > 0) {
    printTable(
      [
        'scenario',
        'publish/s ours',
        'RabbitMQ',
        'ratio',
        'drain/s ours',
        'RabbitMQ',
        'ratio',
        'our CPU publish / drain',
        'our RSS MiB after publish / drain',
        'our peak RSS',
      ],
      backlogScenarios.map((s) => {
        const r = backlogs.get(s.id) ?? {};
        const peak = r.ours?.peakRssMiB;
        return [
          `${s.id}) ${s.title}`,
          ...rateCells(r, 'publishPerSec'),
          ...rateCells(r, 'drainPerSec'),
          `${fmtPct(r.ours?.publishCpuPct)} / ${fmtPct(r.ours?.drainCpuPct)}`,
          `${fmtMiB(r.ours?.rssAfterPublishMiB)} / ${fmtMiB(r.ours?.rssAfterDrainMiB)}`,
          peak === undefined ? '—' : `${fmtMiB((peak * 2 ** 20) / 1e6)} MB (${fmtMiB(peak)} MiB)`,
        ];
      }),
    );
    for (const [id, r] of backlogs)
      for (const [who, x] of [
        ['ours', r.ours],
        ['RabbitMQ', r.rabbit],
      ] as const)
        if (x && !x.complete)
          console.log(
            `${id}: ${who} did not finish within ${backlogTimeoutMs / 1000}s per phase; rates are partial`,
          );
  }

  const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
  const targetLines: string[] = [];
  for (const s of timed.filter((x) => x.persistent)) {
    const r = results.get(s.id);
    if (!r?.ours || !r.rabbit) continue;
    const ratio = r.ours.publishPerSec / r.rabbit.publishPerSec;
    targetLines.push(
      `${s.id}: confirmed publish/s ${ratio.toFixed(2)}× RabbitMQ (deliveries ${(r.ours.deliverPerSec / r.rabbit.deliverPerSec).toFixed(2)}×), target ≥ ${TARGET_RATIO}×: ${verdict(ratio >= TARGET_RATIO)}`,
    );
  }
  for (const [id, r] of backlogs) {
    const peak = r.ours?.peakRssMiB;
    if (peak === undefined) continue;
    const bytes = peak * 2 ** 20;
    targetLines.push(
      `${id}: our peak RSS ${(bytes / 1e6).toFixed(0)} MB with ${r.ours?.messages.toLocaleString('en')} messages, target ≤ ${TARGET_RSS_BYTES / 1e6} MB at any point: ${verdict(bytes <= TARGET_RSS_BYTES)}`,
    );
  }
  if (targetLines.length > 0) console.log(`\nThe durability issue's targets:\n  ${targetLines.join('\n  ')}`);
  const b = SCENARIOS.find((x) => x.id === 'b');
  if (runOurs && b !== undefined && scenarios.includes(b) && process.env.BENCH_ADMIN_OVERHEAD !== '0') {
    await adminOverhead(b);
  }
  console.log(
    `\nLoad average at end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

/**
 * The management API's cost (issue: at most 5% of 2p/4c throughput while a client polls /api/queues every
 * second): the same scenario on a plain broker process and on one with the management listener (API and
 * Prometheus metrics) while a separate process polls /api/queues every second and scrapes /metrics every
 * BENCH_ADMIN_SCRAPE_SECONDS (default 15, Prometheus's default interval). BENCH_ADMIN_ROUNDS rounds
 * (default 2) alternate the order (plain first, then polled first, …) so that drift on a shared machine
 * hits both alike; the ratio is of the means, with each round's own ratio beside it.
 */
async function adminOverhead(s: Scenario): Promise<void> {
  const rounds = Number(process.env.BENCH_ADMIN_ROUNDS ?? 2);
  const scrapeSeconds = Number(process.env.BENCH_ADMIN_SCRAPE_SECONDS ?? 15);
  const loadAtStart = loadavg();
  const plain = await startOurBroker();
  const managed = await startOurBroker({}, true);
  const plainRates: number[] = [];
  const polledRates: number[] = [];
  // Broker CPU per delivery (µs): less sensitive than throughput to other work on a shared machine.
  const plainCpu: number[] = [];
  const polledCpu: number[] = [];
  const cpuPerDelivery = (r: { deliverPerSec: number; brokerCpuPct?: number | undefined }) =>
    r.brokerCpuPct === undefined || r.deliverPerSec === 0
      ? Number.NaN
      : (r.brokerCpuPct * 1e4) / r.deliverPerSec;
  let idle: { plainMs: number; polledMs: number; seconds: number } | undefined;
  let polls = 0;
  let scrapes = 0;
  let failures = 0;
  const runPlain = async () => {
    const r = await runScenario(s, plain.url, plain.process);
    plainRates.push(r.deliverPerSec);
    plainCpu.push(cpuPerDelivery(r));
  };
  const startPoller = async () => {
    const poller = fork(
      fileURLToPath(new URL('./admin-poller.ts', import.meta.url)),
      [String(managed.adminPort), String(scrapeSeconds)],
      {
        execArgv: tsx,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    await once(poller, 'message');
    return async () => {
      const done = once(poller, 'message');
      poller.send('stop');
      const [report] = (await done) as [{ polls: number; scrapes: number; failures: number }];
      polls += report.polls;
      scrapes += report.scrapes;
      failures += report.failures;
    };
  };
  const runPolled = async () => {
    const stop = await startPoller();
    try {
      const r = await runScenario(s, managed.url, managed.process);
      polledRates.push(r.deliverPerSec);
      polledCpu.push(cpuPerDelivery(r));
    } finally {
      await stop();
    }
  };
  // Without AMQP load: the CPU both broker processes use over the same window while one is polled.
  const idleCost = async (seconds: number) => {
    const stop = await startPoller();
    try {
      const [p0, m0] = [
        await cpuSeconds(plain.process.child.pid),
        await cpuSeconds(managed.process.child.pid),
      ];
      await sleep(seconds * 1000);
      const [p1, m1] = [
        await cpuSeconds(plain.process.child.pid),
        await cpuSeconds(managed.process.child.pid),
      ];
      if (p0 !== undefined && p1 !== undefined && m0 !== undefined && m1 !== undefined)
        idle = { plainMs: (p1 - p0) * 1000, polledMs: (m1 - m0) * 1000, seconds };
    } finally {
      await stop();
    }
  };
  try {
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        await runPlain();
        await runPolled();
      } else {
        await runPolled();
        await runPlain();
      }
    }
    await idleCost(Number(process.env.BENCH_ADMIN_IDLE_SECONDS ?? 20));
  } finally {
    await stopOurBroker(plain);
    await stopOurBroker(managed);
  }
  if (failures > 0) throw new Error(`${failures} polls of /api/queues or /metrics failed`);
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
  const ratio = mean(polledRates) / mean(plainRates);
  const fmtLoad = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  console.log(
    `\nManagement overhead, ${s.id}) ${s.title}, ${rounds} alternating rounds of ${measureSeconds}s (load average ${fmtLoad(loadAtStart)} at start, ${fmtLoad(loadavg())} at end):\n` +
      `  without management listener: ${mean(plainRates).toFixed(0)} deliveries/s (${plainRates.map((r) => r.toFixed(0)).join(', ')})\n` +
      `  with it, /api/queues polled every second (${polls} polls) and /metrics scraped every ${scrapeSeconds}s (${scrapes} scrapes): ${mean(polledRates).toFixed(0)} deliveries/s (${polledRates.map((r) => r.toFixed(0)).join(', ')})\n` +
      `  per-round ratio ${polledRates.map((r, i) => (r / (plainRates[i] ?? r)).toFixed(3)).join(', ')}\n` +
      `  ratio of the means ${ratio.toFixed(3)} (target ≥ 0.95: ${ratio >= 0.95 ? 'met' : 'MISSED'})\n` +
      `  broker CPU per delivery: ${mean(plainCpu).toFixed(2)} µs plain, ${mean(polledCpu).toFixed(2)} µs polled (ratio ${(mean(plainCpu) / mean(polledCpu)).toFixed(3)})` +
      (idle === undefined
        ? ''
        : `\n  without AMQP load, ${idle.seconds}s: ${idle.plainMs.toFixed(0)} ms CPU plain, ${idle.polledMs.toFixed(0)} ms polled (${((idle.polledMs - idle.plainMs) / idle.seconds / 10).toFixed(2)}% of one core for the management listener)`),
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
