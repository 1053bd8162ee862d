/**
 * pnpm --filter @dispatcher/push-gateway bench
 *
 * What a user sees: main tube → subscribers through the whole gateway (bench/gateway.ts: redistribution,
 * pushes, recover watcher, Redis statistics, metrics, a SENT DATA line per push) in its own process, on two
 * private beanstalkd servers and a private redis-server. The producer (bench/produce.ts) puts messages into the
 * main tube during the run, at a fixed rate, from another process; the subscribers are live HTTP sinks in a
 * third process (bench/sink.ts). Scenarios: 1 and 10 subscriptions per topic, and 10 where one subscriber hangs
 * (its pushes time out) beside nine fast ones. Prints pushes/s, put → delivery latency percentiles, the
 * gateway's RSS and CPU (pushes per gateway CPU-second: the figure that does not depend on what else the
 * machine runs), and the fast subscribers' rate with and without the hanging one (same run). Per scenario also
 * the CPU of every process (gateway, producer, beanstalkd ×2, redis, sink), where the backlog sat when production
 * ended, and how long the gateway's main thread waited for a CPU (run queue: machine load, not gateway work).
 *
 * Knobs: BENCH_SECONDS (per scenario, 8), BENCH_RATE_ONE / BENCH_RATE_TEN (messages/s offered; `max` = as fast
 * as beanstalkd takes them; 6000 / 600), BENCH_CONCURRENCY (senders per subscription per server, 16),
 * BENCH_LISTENERS (main-tube listeners per server, 4), BENCH_MESSAGES_PER_LISTENER (messages a listener
 * redistributes side by side, 8), BENCH_SCENARIOS (one,ten,hang), BENCH_ROUNDS (1; the scenarios alternate
 * and the best round of each is compared), BENCH_CPU_PROF=dir (profile the gateway process), BENCH_GATEWAY
 * (another gateway script, e.g. a copy wired to an older src/ for a before/after comparison).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BeanstalkdService, startBeanstalkd, startRedis } from '@dispatcher/tooling';
import { Redis } from 'ioredis';
import { BeanstalkPool } from '../src/beanstalk/beanstalk-pool.js';
import { channelTube } from '../src/job/tube-names.js';
import { RedisSubscriptionSource } from '../src/subscriptions/redis-subscription-source.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const RATE_ONE = process.env.BENCH_RATE_ONE ?? '6000';
const RATE_TEN = process.env.BENCH_RATE_TEN ?? '600';
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const LISTENERS = Number(process.env.BENCH_LISTENERS ?? 4);
const CPU_PROF = process.env.BENCH_CPU_PROF;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const tsx = ['--import', 'tsx'];
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

const redisService = await startRedis();
const workDir = await mkdtemp(join(tmpdir(), 'push-bench-'));
const sink = fork(here('./sink.ts'), [], { execArgv: tsx });
const sinkPort = await reply<{ port: number }>(sink).then((m) => m.port);

function reply<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`bench child exited (${code})`));
    child.once('exit', onExit);
    child.once('message', (m) => {
      child.off('exit', onExit);
      resolve(m as T);
    });
  });
}
function ask<T>(child: ChildProcess, cmd: string): Promise<T> {
  const answer = reply<T>(child);
  child.send({ cmd });
  return answer;
}
/** CPU time (user + system) a process has used so far, in ms, from /proc (0 where /proc is absent). */
async function cpuMsOf(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (clock ticks, 100/s).
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 10;
}
/** Time a process's main thread has waited on a run queue (runnable, no CPU free), ms, from /proc. */
async function runQueueMsOf(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  const text = await readFile(`/proc/${pid}/schedstat`, 'utf8').catch(() => '');
  return Number(text.split(' ')[1] ?? 0) / 1e6;
}
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

interface Result {
  name: string;
  offered: string;
  produced: number;
  pushes: number;
  seconds: number;
  rate: number;
  fastRatePerSub: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  rssPeakMb: number;
  cpuPct: number;
  pushesPerCpuSec: number;
  dataLogMb: number;
  /** CPU of every process of the run over the measured span, % of one core. */
  cpu: Record<string, number>;
  /** Jobs ready when production ended: in the main tube, and in the fast subscribers' channel tubes. */
  backlogMain: number;
  backlogChannels: number;
  /** Share of the run the gateway's main thread was runnable but waiting for a CPU (machine load). */
  gatewayWaitPct: number;
}

async function scenario(name: string, subs: number, rate: string, hang: boolean): Promise<Result> {
  const beanstalkds: BeanstalkdService[] = await Promise.all([startBeanstalkd(), startBeanstalkd()]);
  const addresses = beanstalkds.map((b) => `127.0.0.1:${b.port}`);
  const redis = new Redis(redisService.url);
  await redis.flushdb();
  const topic = `bench-${name.replace(/\W+/g, '-')}`;
  const source = new RedisSubscriptionSource({ redis });
  const fastTubes: string[] = [];
  for (let i = 0; i < subs; i++) {
    const slow = hang && i === 0;
    const created = await source.create({
      topic,
      subscriberId: i + 1,
      receptionChannel: `http://127.0.0.1:${sinkPort}/${slow ? 'hang' : 'fast'}/${i}`,
      params: { concurrency: CONCURRENCY, timeoutMs: slow ? 30_000 : 5_000 },
    });
    if (!slow) fastTubes.push(channelTube(topic, created.id));
  }
  await source.close();
  redis.disconnect();
  const dataLog = join(workDir, `${topic}.data.log`);
  await rm(dataLog, { force: true });
  const gateway = fork(process.env.BENCH_GATEWAY ?? here('./gateway.ts'), [], {
    execArgv: [...tsx, ...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : [])],
    env: {
      ...process.env,
      BENCH_BEANSTALKD: addresses.join(','),
      BENCH_REDIS: redisService.url,
      BENCH_LISTENERS: String(LISTENERS),
      BENCH_DATA_LOG: dataLog,
    },
  });
  await reply(gateway);
  await ask(sink, 'reset');

  const others = {
    beanstalkd1: beanstalkds[0]?.pid,
    beanstalkd2: beanstalkds[1]?.pid,
    redis: redisService.pid,
    sink: sink.pid,
  };
  const cpuBefore = Object.fromEntries(
    await Promise.all(Object.entries(others).map(async ([k, pid]) => [k, await cpuMsOf(pid)] as const)),
  );
  const waitBefore = await runQueueMsOf(gateway.pid);
  const started = Date.now();
  const producer = fork(here('./produce.ts'), [addresses.join(','), topic, rate, String(SECONDS)], {
    execArgv: tsx,
  });
  const produced = await reply<{ sent: number; seconds: number; cpuMs: number }>(producer);
  // Where the backlog sits when production ends: not yet redistributed (main tube) or not yet pushed.
  const probe = new BeanstalkPool({ addresses });
  await probe.connect();
  const backlogMain = await probe.tubeCount('main-incoming-queue', 'current-jobs-ready');
  let backlogChannels = 0;
  for (const tube of fastTubes) backlogChannels += await probe.tubeCount(tube, 'current-jobs-ready');
  await probe.close();
  const fastSubs = hang ? subs - 1 : subs;
  const expected = produced.sent * fastSubs;
  // Wait for the backlog to drain (bounded: a gateway that cannot keep up is reported, not waited for).
  const deadline = Date.now() + 60_000;
  let counts: { counts: Record<string, number>; lastAt: number };
  let fast = 0;
  for (;;) {
    counts = await ask(sink, 'counts');
    fast = Object.entries(counts.counts)
      .filter(([p]) => p.startsWith('/fast/'))
      .reduce((n, [, c]) => n + c, 0);
    if (fast >= expected || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const seconds = (counts.lastAt - started) / 1000;
  const usage = await ask<{ rssPeak: number; cpuMs: number }>(gateway, 'stats');
  const cpuAfter = Object.fromEntries(
    await Promise.all(Object.entries(others).map(async ([k, pid]) => [k, await cpuMsOf(pid)] as const)),
  );
  const pct = (ms: number) => (100 * ms) / 1000 / seconds;
  const gatewayWaitPct = pct((await runQueueMsOf(gateway.pid)) - waitBefore);
  const cpu: Record<string, number> = { gateway: pct(usage.cpuMs), producer: pct(produced.cpuMs) };
  for (const k of Object.keys(others)) cpu[k] = pct((cpuAfter[k] ?? 0) - (cpuBefore[k] ?? 0));
  const { latencies } = await ask<{ latencies: number[] }>(sink, 'latencies');
  const exited = new Promise((r) => gateway.once('exit', r));
  gateway.send({ cmd: 'exit' });
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (gateway.exitCode === null) gateway.kill('SIGKILL');
  await Promise.all(beanstalkds.map((b) => b.stop()));
  const sorted = latencies.sort((a, b) => a - b);
  return {
    name,
    offered: rate === 'max' ? 'max' : `${rate} msg/s`,
    produced: produced.sent,
    pushes: fast,
    seconds,
    rate: fast / seconds,
    fastRatePerSub: fast / fastSubs / seconds,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? 0,
    rssPeakMb: usage.rssPeak / 1024 / 1024,
    cpuPct: (100 * usage.cpuMs) / 1000 / seconds,
    pushesPerCpuSec: fast / (usage.cpuMs / 1000),
    dataLogMb: (await stat(dataLog).catch(() => ({ size: 0 }))).size / 1024 / 1024,
    cpu,
    backlogMain,
    backlogChannels,
    gatewayWaitPct,
  };
}

process.stdout.write(
  `push-gateway bench: gateway, producer and sink in separate processes; 2 beanstalkd + redis-server; ` +
    `${SECONDS} s of production per scenario; ${CONCURRENCY} senders per subscription per server, ` +
    `${LISTENERS} main-tube listeners per server; SENT log, Redis stats and metrics on\n`,
);
const all = [
  ['one', '1 subscription', 1, RATE_ONE, false],
  ['ten', '10 subscriptions', 10, RATE_TEN, false],
  ['hang', '10 subscriptions, 1 hanging', 10, RATE_TEN, true],
] as const;
const only = (process.env.BENCH_SCENARIOS ?? 'one,ten,hang').split(',');
// Rounds alternate the scenarios, so the 10-subscription and the hanging run see the same machine load.
const best = new Map<string, Result>();
for (let round = 1; round <= ROUNDS; round++)
  for (const [id, name, subs, rate, hang] of all) {
    if (!only.includes(id)) continue;
    const r = await scenario(name, subs, rate, hang);
    if ((best.get(name)?.rate ?? -1) < r.rate) best.set(name, r);
    process.stdout.write(
      `${ROUNDS > 1 ? `[${round}] ` : ''}${r.name.padEnd(28)} offered ${r.offered.padEnd(11)} produced ${String(r.produced).padStart(6)}; ` +
        `${String(r.pushes).padStart(6)} pushes in ${r.seconds.toFixed(2)} s = ${r.rate.toFixed(0).padStart(5)} pushes/s; ` +
        `latency p50 ${r.p50} p95 ${r.p95} p99 ${r.p99} max ${r.max} ms; gateway RSS peak ${r.rssPeakMb.toFixed(0)} MB, ` +
        `CPU ${r.cpuPct.toFixed(0)}% of a core (${r.pushesPerCpuSec.toFixed(0)} pushes per CPU-second); DATA log ${r.dataLogMb.toFixed(1)} MB\n`,
    );
    process.stdout.write(
      `${''.padEnd(ROUNDS > 1 ? 4 : 0)}  CPU % of a core over the run: ${Object.entries(r.cpu)
        .map(([k, v]) => `${k} ${v.toFixed(0)}`)
        .join(
          ', ',
        )}; backlog at end of production: main tube ${r.backlogMain}, channel tubes ${r.backlogChannels}; gateway main thread waited for a CPU ${r.gatewayWaitPct.toFixed(0)}% of the run; machine load ${loadavg()[0]?.toFixed(1)}\n`,
    );
  }
const ten = best.get('10 subscriptions');
const hanging = best.get('10 subscriptions, 1 hanging');
if (ten && hanging)
  process.stdout.write(
    `fast subscribers with one hanging beside them${ROUNDS > 1 ? ' (best rounds)' : ''}: ${hanging.fastRatePerSub.toFixed(0)} vs ${ten.fastRatePerSub.toFixed(0)} pushes/s per subscriber = ${(hanging.fastRatePerSub / ten.fastRatePerSub).toFixed(2)}x; ` +
      `per gateway CPU-second ${(hanging.pushesPerCpuSec / 9).toFixed(0)} vs ${(ten.pushesPerCpuSec / 10).toFixed(0)} = ${(hanging.pushesPerCpuSec / 9 / (ten.pushesPerCpuSec / 10)).toFixed(2)}x; ` +
      `p99 ${hanging.p99} vs ${ten.p99} ms\n`,
  );
sink.send({ cmd: 'exit' });
await redisService.stop();
await rm(workDir, { recursive: true, force: true });
process.exit(0);
