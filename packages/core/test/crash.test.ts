/**
 * Crash consistency: a child appends under load and is killed with SIGKILL at random moments, many
 * times over the same directory. After each kill the log is reopened and checked: every append whose
 * promise resolved is present and intact (unless its ack also resolved), nothing is duplicated, nothing
 * is reordered.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DurableLog } from '../src/log/durable-log.js';
import { tempDir } from './helpers/temp-dir.js';

const ITERATIONS = Number(process.env.DISPATCHER_CRASH_ITERATIONS ?? 25);
const child = fileURLToPath(new URL('./fixtures/crash-appender.ts', import.meta.url));

// Deterministic pseudo-random kill delays, so a failure can be replayed with the same seed.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function runAndKill(dir: string, journal: string, run: number, killAfterMs: number): Promise<void> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', child, dir, journal, String(run), String(1 + (run % 4) * 20)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('READY')) resolve();
    });
    void exited.then((code) => reject(new Error(`child exited early (${code}): ${stderr}`)));
  });
  await new Promise((r) => setTimeout(r, killAfterMs));
  proc.kill('SIGKILL');
  await exited;
}

describe('durable log under SIGKILL', () => {
  it(`keeps every resolved append across ${ITERATIONS} random kills`, async () => {
    const dir = tempDir('dsp-crash-');
    const journal = join(tempDir('dsp-crash-journal-'), 'journal.txt');
    const random = rng(Number(process.env.DISPATCHER_CRASH_SEED ?? 20261121));
    let totalResolved = 0;
    for (let run = 1; run <= ITERATIONS; run++) {
      await runAndKill(dir, journal, run, 30 + Math.floor(random() * 250));

      const appended = new Map<number, { run: number; n: number }>();
      const acked = new Set<number>();
      const ackStarted = new Set<number>();
      const lines = existsSync(journal) ? readFileSync(journal, 'utf8').split('\n') : [];
      for (const line of lines) {
        const parts = line.split(' ');
        if (parts[0] === 'A' && parts.length === 4) {
          appended.set(Number(parts[1]), { run: Number(parts[2]), n: Number(parts[3]) });
        } else if (parts[0] === 'K' && parts.length === 2) {
          acked.add(Number(parts[1]));
        } else if (parts[0] === 'P' && parts.length === 2) {
          ackStarted.add(Number(parts[1]));
        }
      }
      totalResolved = appended.size;

      const log = await DurableLog.open({ dir });
      // Plain checks gathered into one assertion: the log holds tens of thousands of records by the end.
      const problems: string[] = [];
      const seen = new Map<string, number>();
      let prevSeq = 0;
      let prevRun = 0;
      let prevN = -1;
      for await (const record of log.live()) {
        const text = record.body.toString();
        const [r, n] = text.split(':').map(Number) as [number, number];
        // Intact: the body is exactly what that append wrote.
        if (text !== `${r}:${n}:${'x'.repeat((n * 37) % 700)}`) problems.push(`record ${record.seq} damaged`);
        const key = `${r}:${n}`;
        if (seen.has(key)) problems.push(`duplicate record ${key} at ${seen.get(key)} and ${record.seq}`);
        seen.set(key, record.seq);
        // In order: runs follow each other and, within a run, appends keep their call order.
        if (record.seq <= prevSeq) problems.push(`sequence went back at ${record.seq}`);
        if (r === prevRun ? n <= prevN : r < prevRun) problems.push(`record ${key} out of order`);
        prevSeq = record.seq;
        prevRun = r;
        prevN = n;
        if (acked.has(record.seq)) problems.push(`acknowledged record ${record.seq} came back`);
      }
      for (const [seq, { run: r, n }] of appended) {
        if (acked.has(seq) || ackStarted.has(seq)) continue;
        if (seen.get(`${r}:${n}`) !== seq) problems.push(`resolved append ${seq} (${r}:${n}) is missing`);
      }
      expect(problems.slice(0, 10), `after kill ${run}`).toEqual([]);
      await log.close();
    }
    expect(totalResolved).toBeGreaterThan(ITERATIONS * 10);
  }, 600_000);
});
