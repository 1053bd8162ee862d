/**
 * Commit latency with and without pre-allocation and O_DSYNC (`pnpm --filter @dispatcher/core bench:sync`).
 *
 * 64 concurrent appenders of 1,100-byte records under the default `batch` policy, in alternating rounds
 * with `preallocateBytes` 0 and BENCH_PREALLOCATE (default 4 MiB), `syncMethod` fdatasync and dsync:
 * durable appends/s, records per batch, and the commit latency of the batches (p50/p90/p99: the fdatasync,
 * or with dsync the O_DSYNC write), timed by a wrapper around the file system. The zeros written ahead
 * are counted apart.
 *
 * Env: BENCH_SECONDS (per round, default 3), BENCH_ROUNDS (default 3), BENCH_DIR (default: the OS temp dir),
 * BENCH_PREALLOCATE (bytes, default 4 MiB).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DurableLog } from '../src/log/durable-log.js';
import { type LogFileSystem, nodeLogFileSystem } from '../src/log/log-file-system.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BASE = process.env.BENCH_DIR ?? tmpdir();
const PREALLOCATE = Number(process.env.BENCH_PREALLOCATE ?? 4 * 1024 * 1024);
const CONCURRENCY = 64;
const PAYLOAD = Buffer.alloc(1100, 7);

/** The real file system, timing each fdatasync; one that follows a write of zeros is pre-allocation's. */
function timedFileSystem(batchSyncs: number[], zeroSyncs: number[]): LogFileSystem {
  return {
    rm: (path) => nodeLogFileSystem.rm(path),
    async open(path, flags, options) {
      const real = await nodeLogFileSystem.open(path, flags, options);
      let zeros = false;
      return {
        read: (buf, off, len, pos) => real.read(buf, off, len, pos),
        close: () => real.close(),
        sync: () => real.sync(),
        truncate: (length) => real.truncate(length),
        async write(buf, off, len, pos) {
          // A frame never starts with 20 zero bytes (its sequence number is at least 1).
          const isZeros = len >= 64 * 1024 && buf.subarray(off, off + 20).every((b) => b === 0);
          const t0 = performance.now();
          const result = await real.write(buf, off, len, pos);
          // The sync that follows at once is this write's (set on completion: writes may overlap).
          zeros = isZeros;
          if (options?.dsync) (isZeros ? zeroSyncs : batchSyncs).push(performance.now() - t0);
          return result;
        },
        async datasync() {
          const into = zeros ? zeroSyncs : batchSyncs;
          const t0 = performance.now();
          await real.datasync();
          into.push(performance.now() - t0);
        },
      };
    },
  };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
const ms = (n: number) => n.toFixed(2);

async function round(preallocateBytes: number, syncMethod: 'fdatasync' | 'dsync'): Promise<string> {
  const dir = mkdtempSync(join(BASE, 'dsp-bench-sync-'));
  const batchSyncs: number[] = [];
  const zeroSyncs: number[] = [];
  const log = await DurableLog.open({
    dir,
    preallocateBytes,
    syncMethod,
    fileSystem: timedFileSystem(batchSyncs, zeroSyncs),
  });
  // Let the first zeros land, as they would in a running proxy.
  await new Promise((resolve) => setTimeout(resolve, 200));
  batchSyncs.length = 0;
  let count = 0;
  let stop = false;
  const started = performance.now();
  const timer = setTimeout(() => {
    stop = true;
  }, SECONDS * 1000);
  const worker = async () => {
    while (!stop) {
      await log.append(PAYLOAD);
      count++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  clearTimeout(timer);
  const elapsed = (performance.now() - started) / 1000;
  const batches = log.stats().batches;
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  const s = batchSyncs.sort((a, b) => a - b);
  const z = zeroSyncs.sort((a, b) => a - b);
  return (
    `${syncMethod.padEnd(9)} preallocate ${String(preallocateBytes).padStart(8)}: ${Math.round(count / elapsed)} appends/s, ` +
    `${(count / Math.max(1, batches)).toFixed(1)} records/batch, commit p50 ${ms(pct(s, 0.5))} ` +
    `p90 ${ms(pct(s, 0.9))} p99 ${ms(pct(s, 0.99))} ms (${s.length})` +
    (z.length > 0 ? `; zero fills ${z.length}, p50 ${ms(pct(z, 0.5))} ms` : '')
  );
}

console.log(`log sync benchmark: node ${process.version}, ${CONCURRENCY} appenders, 1,100-byte records`);
for (let i = 0; i < ROUNDS; i++) {
  for (const method of ['fdatasync', 'dsync'] as const) {
    for (const bytes of [0, PREALLOCATE]) console.log(await round(bytes, method));
  }
}
