/**
 * HTTP proxy benchmark (`pnpm --filter @dispatcher/http-proxy bench`).
 *
 * 1. Ingest: durable 202s per second and latency (p50/p99) with 1 KiB bodies over 64 keep-alive
 *    connections. Requests carry X-Dispatcher-Delay so no delivery competes with ingest.
 * 2. Delivery: a backlog that falls due at one instant is drained to a local sink; deliveries per second.
 * 3. Memory: resident set size of the proxy holding a backlog of BENCH_BACKLOG messages (default
 *    1,000,000), after ingest and again after a restart (recovery).
 *
 * The proxy runs in its own process; the load generator and the sink run in this one.
 * Env: BENCH_SECTIONS (default ingest,delivery,backlog), BENCH_SECONDS (ingest duration, default 5), BENCH_DELIVERIES (default 100,000),
 * BENCH_BACKLOG (default 1,000,000), BENCH_WORKERS (default 64), BENCH_DIR (default OS temp dir).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const DELIVERIES = Number(process.env.BENCH_DELIVERIES ?? 100_000);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 1_000_000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 64);
const BASE = process.env.BENCH_DIR ?? tmpdir();
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? 'ingest,delivery,backlog').split(','));
const CONNECTIONS = 64;
const BODY = Buffer.alloc(1024, 'x');
const server = fileURLToPath(new URL('./proxy-server.ts', import.meta.url));
const bareServer = fileURLToPath(new URL('./bare-server.ts', import.meta.url));

interface Running {
  proc: ChildProcess;
  url: string;
}

async function startProxy(dataDir: string, script = server): Promise<Running> {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, dataDir, String(WORKERS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d;
      const m = /READY (\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    proc.on('exit', (code) => reject(new Error(`proxy exited with ${code}`)));
  });
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

/** Sends requests from CONNECTIONS concurrent loops until `stop()` says so; returns latencies in ms. */
async function load(
  url: string,
  headers: Record<string, string>,
  stop: (sent: number, t: number) => boolean,
) {
  const pool = new Pool(url, { connections: CONNECTIONS, pipelining: 1 });
  const latencies: number[] = [];
  let sent = 0;
  let failed = 0;
  const started = performance.now();
  const loop = async () => {
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
  await pool.close();
  return { latencies, elapsed, failed };
}

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

let delivered = 0;
let firstAt = 0;
let lastAt = 0;
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    delivered++;
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
sink.close();
