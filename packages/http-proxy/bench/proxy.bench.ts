/**
 * HTTP proxy benchmark (`pnpm --filter @dispatcher/http-proxy bench`).
 *
 * 1. Ingest: durable 202s per second and latency (p50/p99) with 1 KiB bodies over 64 keep-alive
 *    connections. Requests carry X-Dispatcher-Delay so no delivery competes with ingest.
 * 2. Delivery: a backlog that falls due at one instant is drained to a local sink; deliveries per second.
 * 3. Memory: resident set size of the proxy holding a backlog of BENCH_BACKLOG messages (default
 *    1,000,000), after ingest and again after a restart (recovery).
 * 4. Stores (`stores`): the embedded log vs the PostgreSQL store with 1 and 2 instances on one database
 *    (127.0.0.1:5432, a database made and dropped by the run; BENCH_PG overrides the admin URL), under
 *    load that is delivered at once: durable 202/s, p50/p99, deliveries/s, proxy and database CPU.
 *
 * The proxy runs in its own process; the load generator and the sink run in this one.
 * 5. Live (`live`, on request; needs wrk): wrk against a bare node:http server, then against the proxy
 *    delivering at once to the sink (deliveryThreads from BENCH_LIVE_THREADS, default 0,1), in the same run.
 *    BENCH_PEER names a binary of the original Go dispatcher (built by the user; never part of this
 *    repository): it then runs under the same load too, once per WORKER in BENCH_PEER_WORKER (default 10,64:
 *    its default, and ours), and the rounds repeat BENCH_LIVE_ROUNDS times (default 1), bare first each round.
 *
 * Env: BENCH_SECTIONS (default ingest,delivery,backlog,stores), BENCH_SECONDS (ingest duration, default 5), BENCH_DELIVERIES (default 100,000),
 * BENCH_BACKLOG (default 1,000,000), BENCH_WORKERS (default 64), BENCH_DIR (default OS temp dir),
 * BENCH_LIVE_SECONDS (default 10), BENCH_LIVE_THREADS, BENCH_WRK (default wrk), BENCH_STORES (the `stores`
 * variants, default embedded,pg1,pg2), BENCH_PROXY_NODE_ARGS (extra node flags for the proxy processes,
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getFreePort } from '@dispatcher/tooling';
import { readyLine } from '@dispatcher/tooling/child-harness';
import { Pool } from 'undici';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 100_000);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 1_000_000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 64);
const BASE = process.env.BENCH_DIR ?? tmpdir();
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? 'ingest,delivery,backlog,stores').split(','));
const CONNECTIONS = 64;
const BODY = Buffer.alloc(1024, 'x');
const server = fileURLToPath(new URL('./proxy-server.ts', import.meta.url));
const bareServer = fileURLToPath(new URL('./bare-server.ts', import.meta.url));

interface Running {
  proc: ChildProcess;
  url: string;
}

async function startProxy(
  dataDir: string,
  script = server,
  env: Record<string, string> = {},
): Promise<Running> {
  const nodeArgs = process.env.BENCH_PROXY_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, dataDir, String(WORKERS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const url = await readyLine(proc, /READY (\S+)/);
  return { proc, url };
}

async function stopProxy(p: Running): Promise<void> {
  const exited = new Promise((r) => p.proc.on('exit', r));
  p.proc.kill('SIGTERM');
  await exited;
}

function memory(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/**
 * Sends requests from CONNECTIONS concurrent loops (spread over `url`s) until `stop()` says so; returns
 * latencies in ms.
 */
async function load(
  url: string | string[],
  headers: Record<string, string>,
  stop: (sent: number, t: number) => boolean,
) {
  const urls = Array.isArray(url) ? url : [url];
  const pools = urls.map(
    (u) => new Pool(u, { connections: Math.ceil(CONNECTIONS / urls.length), pipelining: 1 }),
  );
  const latencies: number[] = [];
  let sent = 0;
  let failed = 0;
  const started = performance.now();
  const loop = async (_: unknown, i: number) => {
    const pool = pools[i % pools.length] as Pool;
    while (!stop(sent, performance.now() - started)) {
      sent++;
      const t0 = performance.now();
      const res = await pool.request({ path: '/bench/item', method: 'POST', headers, body: BODY });
      await res.body.dump();
      if (res.statusCode === 202) latencies.push(performance.now() - t0);
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, loop));
  const elapsed = (performance.now() - started) / 1000;
  await Promise.all(pools.map((p) => p.close()));
  return { latencies, elapsed, failed };
}

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `cpuSeconds`, or undefined when the process has ended. */
function processCpuSeconds(pid: number): number | undefined {
  try {
    return cpuSeconds(pid);
  } catch {
    return undefined;
  }
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

let delivered = 0;
let firstAt = 0;
let lastAt = 0;
let arrived: (() => void) | undefined;
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    delivered++;
    arrived?.();
    lastAt = Date.now();
    if (firstAt === 0) firstAt = lastAt;
    res.end();
  });
});
sink.keepAliveTimeout = 60_000;
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;

console.log(
  `http-proxy benchmark: node ${process.version}, fsync=batch(2ms), ${CONNECTIONS} connections, 1 KiB bodies, WORKER=${WORKERS}`,
);

// 1. Ingest, beside the ceiling of a bare node:http server (no storage) under the same load.
if (SECTIONS.has('ingest')) {
  const ingestRun = async (p: Running, headers: Record<string, string>) => {
    await load(p.url, headers, (_s, t) => t > 1000); // warm-up
    const cpu0 = cpuSeconds(p.proc.pid as number);
    const r = await load(p.url, headers, (_s, t) => t > SECONDS * 1000);
    const cpuUs = ((cpuSeconds(p.proc.pid as number) - cpu0) / r.latencies.length) * 1e6;
    return { ...r, rate: r.latencies.length / r.elapsed, cpuUs, sorted: r.latencies.sort((a, b) => a - b) };
  };
  const headers = {
    'x-dispatcher-origin-host': sinkUrl,
    'x-dispatcher-delay': '3600000',
    'content-type': 'application/octet-stream',
  };
  const bare = await startProxy('-', bareServer);
  const b = await ingestRun(bare, headers);
  await stopProxy(bare);
  const dir = mkdtempSync(join(BASE, 'dsp-bench-proxy-'));
  const proxy = await startProxy(dir);
  const r = await ingestRun(proxy, headers);
  const mem = memory(proxy.proc.pid as number);
  console.log(
    `ceiling:  ${fmt(b.rate)} 202/s from a bare node:http server (nothing stored) — p50 ${fmt(pct(b.sorted, 0.5), 2)} ms, ` +
      `CPU ${fmt(b.cpuUs)} µs/request`,
  );
  console.log(
    `ingest:   ${fmt(r.rate)} durable 202/s over ${SECONDS}s — p50 ${fmt(pct(r.sorted, 0.5), 2)} ms, p99 ${fmt(pct(r.sorted, 0.99), 2)} ms, ` +
      `${r.failed} non-202, CPU ${fmt(r.cpuUs)} µs/request, ${fmt((r.rate / b.rate) * 100)}% of the ceiling, ` +
      `peak RSS ${fmt(mem.peakMb)} MB (target >= 15,000/s)`,
  );
  await stopProxy(proxy);
  rmSync(dir, { recursive: true, force: true });
}

// 1b. Live (`live`): wrk against the bare node:http server, then against the proxy delivering to the sink
// at once, in the same run: accepted durable 202/s, deliveries/s, the backlog's drain time after the load.
if (SECTIONS.has('live')) {
  const seconds = Number(process.env.BENCH_LIVE_SECONDS ?? 10);
  const headers = { 'x-dispatcher-origin-host': sinkUrl, 'content-type': 'application/octet-stream' };
  const wrkBin = process.env.BENCH_WRK ?? 'wrk';
  const scriptDir = mkdtempSync(join(BASE, 'dsp-bench-wrk-'));
  /** A wrk script that POSTs the 1 KiB body with `hdrs`. */
  const luaScript = (name: string, hdrs: Record<string, string>) => {
    const path = join(scriptDir, name);
    writeFileSync(
      path,
      `wrk.method = "POST"\nwrk.body = string.rep("x", ${BODY.length})\n` +
        Object.entries(hdrs)
          .map(([k, v]) => `wrk.headers["${k}"] = "${v}"\n`)
          .join(''),
    );
    return path;
  };
  const script = luaScript('post.lua', headers);
  // The original reads its own header name (X-Dispatcher-Original-Host); ours accepts both.
  const peerScript = luaScript('post-original.lua', {
    'x-dispatcher-original-host': sinkUrl,
    'content-type': 'application/octet-stream',
  });
  const wrk = (url: string, s: number, lua = script) => runWrk(wrkBin, lua, url, s);
  const peer = process.env.BENCH_PEER;
  const rounds = Number(process.env.BENCH_LIVE_ROUNDS ?? 1);
  /** Load, then wait for every accepted request to arrive; the figures of one proxy-like run. */
  const liveRun = async (url: string, pid: number, lua: string) => {
    delivered = 0;
    const warm = await wrk(url, 2, lua);
    const tWarm = performance.now();
    while (delivered < warm.accepted && performance.now() - tWarm < 60_000)
      await new Promise((r) => setTimeout(r, 5));
    const d0 = delivered;
    const cpu0 = cpuSeconds(pid);
    const r = await wrk(url, seconds, lua);
    const dLoad = delivered - d0;
    const tDrain = performance.now();
    while (delivered < d0 + r.accepted && performance.now() - tDrain < 60_000)
      await new Promise((res) => setTimeout(res, 2));
    const drainS = (performance.now() - tDrain) / 1000;
    const cpu = cpuSeconds(pid) - cpu0;
    const mem = memory(pid);
    const rate = r.accepted / r.seconds;
    const got = delivered - d0;
    return { r, rate, dLoad, drainS, cpu, mem, got };
  };
  for (let round = 1; round <= rounds; round++) {
    const tag = rounds > 1 ? ` [round ${round}/${rounds}]` : '';
    const bare = await startProxy('-', bareServer);
    await wrk(bare.url, 2); // warm-up
    const b = await wrk(bare.url, seconds);
    await stopProxy(bare);
    const bareRate = b.accepted / b.seconds;
    console.log(
      `live:     bare node:http ${fmt(bareRate)} 202/s (${wrkBin} -t2 -c${CONNECTIONS} -d${seconds}s, 1 KiB POST, p50 ${b.p50})${tag}`,
    );
    for (const threads of (process.env.BENCH_LIVE_THREADS ?? '0,1').split(',')) {
      const dir = mkdtempSync(join(BASE, 'dsp-bench-proxy-'));
      const proxy = await startProxy(dir, server, { BENCH_DELIVERY_THREADS: threads });
      const x = await liveRun(proxy.url, proxy.proc.pid as number, script);
      console.log(
        `live:     proxy, deliveryThreads=${threads}: ${fmt(x.rate)} durable 202/s (p50 ${x.r.p50}, ${x.r.other} non-202), ` +
          `${fmt(x.dLoad / x.r.seconds)} deliveries/s during the load, backlog of ${fmt(Math.max(0, x.r.accepted - x.dLoad))} ` +
          `drained ${fmt(x.drainS, 2)} s after it (target <= 2 s); proxy CPU ${fmt((x.cpu / (x.r.seconds + x.drainS)) * 100)}%, ` +
          `peak RSS ${fmt(x.mem.peakMb)} MB; ${fmt(x.rate / bareRate, 2)}x the bare server (target >= 0.42x)${tag}`,
      );
      await stopProxy(proxy);
      rmSync(dir, { recursive: true, force: true });
    }
    const peerRuns = peer
      ? (process.env.BENCH_PEER_WORKER ?? '10,64').split(',').map((workers) => ({ bin: peer, workers }))
      : [];
    for (const { bin, workers } of peerRuns) {
      const dir = mkdtempSync(join(BASE, 'dsp-bench-peer-'));
      const port = await getFreePort();
      // Its per-message log lines go nowhere: the run measures the dispatcher, not a terminal.
      const proc = spawn(bin, [], {
        cwd: dir,
        stdio: 'ignore',
        env: {
          ...process.env,
          LISTEN: `127.0.0.1:${port}`,
          WORKER: workers,
          TRANSACTION_LOG: join(dir, 'transaction.log'),
          DEAD_LETTER: join(dir, 'deadletter.log'),
        },
      });
      const url = `http://127.0.0.1:${port}`;
      for (let i = 0; ; i++) {
        const up = await fetch(url, { method: 'GET' }).then(
          () => true,
          () => false,
        );
        if (up) break;
        if (i > 500 || proc.exitCode !== null)
          throw new Error(`the peer ${bin} did not start listening on ${url}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      const x = await liveRun(url, proc.pid as number, peerScript);
      console.log(
        `live:     original (Go, never fsyncs), WORKER=${workers}: ${fmt(x.rate)} 202/s (p50 ${x.r.p50}, ${x.r.other} non-202), ` +
          `${fmt(x.dLoad / x.r.seconds)} deliveries/s during the load, ${fmt(x.got)} of ${fmt(x.r.accepted)} delivered ` +
          `${fmt(x.drainS, 2)} s after it; its CPU ${fmt((x.cpu / (x.r.seconds + x.drainS)) * 100)}%, peak RSS ${fmt(x.mem.peakMb)} MB; ` +
          `${fmt(x.rate / bareRate, 2)}x the bare server${tag}`,
      );
      const exited = new Promise((r) => proc.on('exit', r));
      proc.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }
  rmSync(scriptDir, { recursive: true, force: true });
}

// 2. Delivery: a backlog that falls due at one instant is drained to a sink in this process; the rate is
// deliveries over the time from the first to the last (ingest is over by then and does not compete).
if (SECTIONS.has('delivery')) {
  const dir = mkdtempSync(join(BASE, 'dsp-bench-proxy-'));
  const proxy = await startProxy(dir);
  const fillMs = Math.ceil(DELIVERIES / 2) + 5_000; // generous: at least 2,000/s ingest
  const dueAt = Date.now() + fillMs;
  delivered = 0;
  firstAt = 0;
  lastAt = 0;
  const f0 = performance.now();
  await load(
    proxy.url,
    { 'x-dispatcher-origin-host': sinkUrl, 'x-dispatcher-not-before': new Date(dueAt).toUTCString() },
    (s) => s >= DELIVERIES,
  );
  const filled = (performance.now() - f0) / 1000;
  if (Date.now() >= dueAt)
    console.log('delivery: warning — the fill took longer than planned; the drain overlapped it');
  const cpu0 = cpuSeconds(proxy.proc.pid as number);
  while (delivered < DELIVERIES) await new Promise((r) => setTimeout(r, 5));
  const drain = (lastAt - firstAt) / 1000;
  const cpuUs = ((cpuSeconds(proxy.proc.pid as number) - cpu0) / DELIVERIES) * 1e6;
  const mem = memory(proxy.proc.pid as number);
  console.log(
    `delivery: ${fmt(DELIVERIES / drain)} delivered/s draining ${fmt(DELIVERIES)} due requests in ${fmt(drain, 2)} s ` +
      `(filled in ${fmt(filled, 1)} s), proxy CPU ${fmt(cpuUs)} µs/delivery, peak RSS ${fmt(mem.peakMb)} MB (target >= 10,000/s)`,
  );
  await stopProxy(proxy);
  rmSync(dir, { recursive: true, force: true });
}

// 3. Memory with a large backlog.
if (SECTIONS.has('backlog') && BACKLOG > 0) {
  const dir = mkdtempSync(join(BASE, 'dsp-bench-proxy-'));
  let proxy = await startProxy(dir);
  const t0 = performance.now();
  await load(
    proxy.url,
    { 'x-dispatcher-origin-host': sinkUrl, 'x-dispatcher-delay': '86400000' },
    (s) => s >= BACKLOG,
  );
  const filled = (performance.now() - t0) / 1000;
  const afterIngest = memory(proxy.proc.pid as number);
  await stopProxy(proxy);
  const r0 = performance.now();
  proxy = await startProxy(dir);
  const recovered = (performance.now() - r0) / 1000;
  const afterRecovery = memory(proxy.proc.pid as number);
  console.log(
    `backlog:  ${fmt(BACKLOG)} messages of 1 KiB (filled in ${fmt(filled, 1)} s) — RSS ${fmt(afterIngest.rssMb)} MB after ingest ` +
      `(peak ${fmt(afterIngest.peakMb)} MB); restart recovered them in ${fmt(recovered, 1)} s, RSS ${fmt(afterRecovery.rssMb)} MB ` +
      `(peak ${fmt(afterRecovery.peakMb)} MB) (target < 300 MB)`,
  );
  await stopProxy(proxy);
  rmSync(dir, { recursive: true, force: true });
}
// 4. Stores side by side: requests delivered as they come, so ingest and delivery share the machine.
if (SECTIONS.has('stores')) {
  const { default: pg } = await import('pg');
  const adminUrl = process.env.BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  const headers = { 'x-dispatcher-origin-host': sinkUrl, 'content-type': 'application/octet-stream' };
  const results: Array<{
    name: string;
    rate: number;
    deliveries: number;
    p50: number;
    p99: number;
    proxyCpu: number;
    dbCpu: number | undefined;
    backendCpu: number | undefined;
    firstP50: number;
  }> = [];
  // The server processes (backends) connected to the bench's database, from PostgreSQL's own list.
  const backendPids = async (db: string): Promise<number[]> => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      const r = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [db]);
      return r.rows.map((row) => row.pid);
    } finally {
      await c.end();
    }
  };
  const storeVariants = new Set((process.env.BENCH_STORES ?? 'embedded,pg1,pg2').split(','));
  for (const variant of [
    { key: 'embedded', name: 'embedded log', pg: false, instances: 1 },
    { key: 'pg1', name: 'PostgreSQL, 1 instance', pg: true, instances: 1 },
    { key: 'pg2', name: 'PostgreSQL, 2 instances', pg: true, instances: 2 },
  ].filter((v) => storeVariants.has(v.key))) {
    const dbName = `dispatcher_bench_${process.pid}_${variant.instances}`;
    const dir = mkdtempSync(join(BASE, 'dsp-bench-proxy-'));
    let env: Record<string, string> = {};
    if (variant.pg) {
      await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin(`CREATE DATABASE ${dbName}`);
      const u = new URL(adminUrl);
      u.pathname = `/${dbName}`;
      env = { BENCH_DATABASE_URL: u.href };
    }
    const proxies: Running[] = [];
    for (let i = 0; i < variant.instances; i++) proxies.push(await startProxy(dir, server, env));
    const urls = proxies.map((p) => p.url);
    await load(urls, headers, (_s, t) => t > 1000); // warm-up
    while (delivered < 1) await new Promise((r) => setTimeout(r, 5));
    const d0 = delivered;
    const cpu0 = proxies.reduce((a, p) => a + cpuSeconds(p.proc.pid as number), 0);
    const db0 = postgresCpuSeconds();
    const backends0 = new Map<number, number>();
    if (variant.pg)
      for (const pid of await backendPids(dbName)) backends0.set(pid, processCpuSeconds(pid) ?? 0);
    const r = await load(urls, headers, (_s, t) => t > SECONDS * 1000);
    const dLoad = delivered - d0;
    // The backlog left when the load stops is drained before the figures are taken.
    const target = d0 + r.latencies.length;
    const tDrain = performance.now();
    while (delivered < target && performance.now() - tDrain < 60_000)
      await new Promise((r) => setTimeout(r, 5));
    const drainS = (performance.now() - tDrain) / 1000;
    const wall = r.elapsed + drainS;
    const cpu = proxies.reduce((a, p) => a + cpuSeconds(p.proc.pid as number), 0) - cpu0;
    const dbCpu = postgresCpuSince(db0);
    // Backends that started during the run count whole; one that ended meanwhile is missed (pools keep theirs).
    let backendCpu = 0;
    if (variant.pg)
      for (const pid of await backendPids(dbName))
        backendCpu += (processCpuSeconds(pid) ?? 0) - (backends0.get(pid) ?? 0);
    const sorted = r.latencies.sort((a, b) => a - b);
    const rate = r.latencies.length / r.elapsed;
    // First-delivery latency on an idle fleet: one request at a time, from sending it to its arrival.
    const first: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      const got = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      await fetch(`${urls[i % urls.length]}/idle`, { method: 'POST', headers, body: BODY });
      await got;
      first.push(performance.now() - t0);
      arrived = undefined;
    }
    first.sort((a, b) => a - b);
    const deliveries = (delivered - d0) / wall;
    results.push({
      name: variant.name,
      rate,
      deliveries,
      p50: pct(sorted, 0.5),
      p99: pct(sorted, 0.99),
      proxyCpu: cpu / wall,
      dbCpu: variant.pg ? dbCpu / wall : undefined,
      backendCpu: variant.pg ? backendCpu / wall : undefined,
      firstP50: pct(first, 0.5),
    });
    console.log(
      `stores:   ${variant.name.padEnd(24)} ${fmt(rate)} durable 202/s — p50 ${fmt(pct(sorted, 0.5), 2)} ms, ` +
        `p99 ${fmt(pct(sorted, 0.99), 2)} ms, ${r.failed} non-202; ${fmt(deliveries)} deliveries/s ` +
        `(${fmt(dLoad)} during the load, backlog drained ${fmt(drainS, 2)} s after it), proxy CPU ${fmt(cpu / wall, 2)} s/s, ` +
        `database CPU ${variant.pg ? `${fmt(dbCpu / wall, 2)} s/s (its backends ${fmt(backendCpu / wall, 2)} s/s)` : '—'}${variant.pg ? ' (targets >= 5,000/s each)' : ''}; ` +
        `idle first delivery p50 ${fmt(pct(first, 0.5), 1)} ms, p99 ${fmt(pct(first, 0.99), 1)} ms${variant.pg ? ' (target p50 < 20 ms)' : ''}`,
    );
    for (const p of proxies) await stopProxy(p);
    rmSync(dir, { recursive: true, force: true });
    if (variant.pg) await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  }
  // One table, CPU in CPU-seconds per second of the run (load + drain; 1.00 = one core busy). Database:
  // every postgres process on the machine (WAL writer, checkpointer… and anyone else's load), and the
  // backends serving the bench's database alone.
  const head = [
    'store',
    'durable 202/s',
    'p50 ms',
    'p99 ms',
    'deliveries/s',
    'proxy CPU',
    'DB CPU',
    'DB backends',
    'idle first p50 ms',
  ];
  const rows = results.map((x) => [
    x.name,
    fmt(x.rate),
    fmt(x.p50, 2),
    fmt(x.p99, 2),
    fmt(x.deliveries),
    fmt(x.proxyCpu, 2),
    x.dbCpu === undefined ? '—' : fmt(x.dbCpu, 2),
    x.backendCpu === undefined ? '—' : fmt(x.backendCpu, 2),
    fmt(x.firstP50, 1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  for (const r of [head, ...rows])
    console.log(
      `stores:   ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ')}`,
    );
  const base = results[0];
  if (base)
    for (const x of results.slice(1))
      console.log(
        `stores:   ${x.name} / embedded: ${fmt(x.rate / base.rate, 2)}x accepted, ${fmt(x.deliveries / base.deliveries, 2)}x delivered`,
      );
}

sink.close();

/** CPU seconds (user + system) used so far by each PostgreSQL server process on this machine, by pid. */
function postgresCpuSeconds(): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
      byPid.set(Number(pid), cpuSeconds(Number(pid)));
    } catch {
      // The process ended meanwhile.
    }
  }
  return byPid;
}

/**
 * CPU seconds PostgreSQL's processes used between two `postgresCpuSeconds()` samples: processes that
 * started meanwhile count whole; those that ended meanwhile (other sessions' backends) are missed.
 */
function postgresCpuSince(before: Map<number, number>): number {
  let total = 0;
  for (const [pid, cpu] of postgresCpuSeconds()) total += cpu - (before.get(pid) ?? 0);
  return total;
}

/** Runs wrk with `script` for `seconds`; 202s counted as accepted, anything else as `other`. */
async function runWrk(bin: string, script: string, url: string, seconds: number) {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      bin,
      ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-s', script, `${url}/bench/item`],
      (err, stdout) =>
        err
          ? reject(
              (err as NodeJS.ErrnoException).code === 'ENOENT'
                ? new Error(
                    `the live section needs wrk (${bin} not found; apt-get install wrk, or set BENCH_WRK)`,
                  )
                : err,
            )
          : resolve(stdout),
    );
  });
  const total = Number(/(\d+) requests in ([\d.]+)(m?s)/.exec(out)?.[1] ?? Number.NaN);
  const m = /requests in ([\d.]+)(m?s)/.exec(out);
  const secs = m ? Number(m[1]) / (m[2] === 'ms' ? 1000 : 1) : seconds;
  const other = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const p50 = /^\s*50%\s+(\S+)/m.exec(out)?.[1] ?? '?';
  return { accepted: total - other, other, seconds: secs, p50 };
}
