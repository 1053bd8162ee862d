/**
 * Durable log append benchmark (`pnpm --filter @dispatcher/core bench`).
 *
 * For each record size and number of concurrent appenders it measures durable appends/s and MB/s under
 * the `batch` fsync policy, then, in the same run, the raw limit of this disk: a plain loop of one
 * `write` + `fdatasync` per batch, with the batch size the log actually formed. The ratio says how much
 * of the disk's group-commit capacity the log delivers.
 *
 * Env: BENCH_SECONDS (per cell, default 2), BENCH_DIR (default: the OS temp dir).
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DurableLog } from '../src/log/durable-log.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const BASE = process.env.BENCH_DIR ?? tmpdir();
const SIZES = [100, 1024, 16 * 1024];
const CONCURRENCY = [1, 16, 256];
const FRAME_OVERHEAD = 20;

interface Cell {
  size: number;
  concurrency: number;
  appendsPerSec: number;
  mbPerSec: number;
  recordsPerBatch: number;
  rawAppendsPerSec: number;
}

async function measureLog(size: number, concurrency: number): Promise<Omit<Cell, 'rawAppendsPerSec'>> {
  const dir = mkdtempSync(join(BASE, 'dsp-bench-log-'));
  const log = await DurableLog.open({ dir, fsync: { mode: 'batch', maxDelayMs: 2 } });
  const payload = Buffer.alloc(size, 7);
  let count = 0;
  let stop = false;
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  const worker = async () => {
    while (!stop) {
      await log.append(payload);
      count++;
      if ((count & 255) === 0 && performance.now() >= deadline) stop = true;
    }
  };
  const timer = setTimeout(() => {
    stop = true;
  }, SECONDS * 1000);
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(timer);
  const elapsed = (performance.now() - started) / 1000;
  const stats = log.stats();
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    size,
    concurrency,
    appendsPerSec: count / elapsed,
    mbPerSec: (count * size) / elapsed / 1e6,
    recordsPerBatch: count / Math.max(1, stats.batches),
  };
}

/** The disk's limit for the same batches: write + fdatasync in a tight synchronous loop. */
function measureRaw(size: number, recordsPerBatch: number): number {
  const dir = mkdtempSync(join(BASE, 'dsp-bench-raw-'));
  const fd = openSync(join(dir, 'raw.bin'), 'w');
  const records = Math.max(1, Math.round(recordsPerBatch));
  const batch = Buffer.alloc(records * (size + FRAME_OVERHEAD), 7);
  let written = 0;
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  while (performance.now() < deadline) {
    writeSync(fd, batch);
    fdatasyncSync(fd);
    written += records;
  }
  const elapsed = (performance.now() - started) / 1000;
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  return written / elapsed;
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

console.log(`durable log append benchmark: fsync=batch(maxDelayMs=2), ${SECONDS}s per cell, dir=${BASE}`);
console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
console.log('');
const header = ['record', 'appenders', 'appends/s', 'MB/s', 'records/batch', 'raw appends/s', 'log/raw'];
console.log(header.map((h) => h.padStart(14)).join(''));
const cells: Cell[] = [];
for (const size of SIZES) {
  for (const concurrency of CONCURRENCY) {
    const m = await measureLog(size, concurrency);
    const rawAppendsPerSec = measureRaw(size, m.recordsPerBatch);
    const cell = { ...m, rawAppendsPerSec };
    cells.push(cell);
    console.log(
      [
        size >= 1024 ? `${size / 1024} KiB` : `${size} B`,
        String(concurrency),
        fmt(cell.appendsPerSec),
        fmt(cell.mbPerSec, 1),
        fmt(cell.recordsPerBatch, 1),
        fmt(cell.rawAppendsPerSec),
        fmt(cell.appendsPerSec / cell.rawAppendsPerSec, 2),
      ]
        .map((c) => c.padStart(14))
        .join(''),
    );
  }
}
const target = cells.find((c) => c.size === 1024 && c.concurrency === 256) as Cell;
const ratio = target.appendsPerSec / target.rawAppendsPerSec;
console.log('');
console.log(
  `target (256 appenders x 1 KiB): ${fmt(target.appendsPerSec)} durable appends/s (goal >= 100,000) — ` +
    `${fmt(ratio, 2)}x of the raw limit (goal >= 0.50): ${target.appendsPerSec >= 100_000 && ratio >= 0.5 ? 'MET' : 'NOT MET'}`,
);
