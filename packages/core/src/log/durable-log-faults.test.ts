import { statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FaultyFileSystem } from '../../test/helpers/faulty-file-system.js';
import { tempDir } from '../../test/helpers/temp-dir.js';
import { DurableLog } from './durable-log.js';
import { FRAME_HEADER_BYTES } from './record-frame.js';

const BODY = 32;
const body = (n: number) => Buffer.alloc(BODY, `r${n}|`);

async function liveBodies(dir: string): Promise<Map<number, string>> {
  const log = await DurableLog.open({ dir });
  const out = new Map<number, string>();
  for await (const r of log.live()) out.set(r.seq, r.body.toString());
  await log.close();
  return out;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

type Outcome = { ok: true; seq: number } | { ok: false; code: string };

function settle(p: Promise<number>): Promise<Outcome> {
  return p.then(
    (seq) => ({ ok: true as const, seq }),
    (err: { code: string }) => ({ ok: false as const, code: err.code }),
  );
}

describe('DurableLog under write faults', () => {
  // Two durable records, then a batch of three appends and an ACK of record 1 that hits a full disk
  // after `k` bytes, for every k inside the batch.
  it('rejects the whole batch on a short write at every byte offset, cuts its bytes, and goes on', async () => {
    const calibration = await DurableLog.open({ dir: tempDir() });
    await Promise.all([calibration.append(body(1)), calibration.append(body(2))]);
    const before = calibration.stats().diskBytes;
    await Promise.all([calibration.ack(1), ...[3, 4, 5].map((n) => calibration.append(body(n)))]);
    const batchBytes = calibration.stats().diskBytes - before;
    await calibration.close();
    expect(batchBytes).toBeGreaterThan(3 * (FRAME_HEADER_BYTES + BODY) + FRAME_HEADER_BYTES);
    for (let k = 0; k < batchBytes; k++) {
      for (const overBudget of ['ENOSPC', 'zero'] as const) {
        const dir = tempDir();
        const fs = new FaultyFileSystem();
        const log = await DurableLog.open({ dir, fileSystem: fs, fsync: { mode: 'always' } });
        expect(await log.append(body(1))).toBe(1);
        expect(await log.append(body(2))).toBe(2);
        const sizeBefore = statSync(join(dir, '00000000000000000001.seg')).size;
        fs.writeBudget = k;
        fs.overBudget = overBudget;
        const acked = log.ack(1).catch((err: { code: string }) => err.code);
        const outcomes = await Promise.all([3, 4, 5].map((n) => settle(log.append(body(n)))));
        expect(outcomes, `k=${k} ${overBudget}`).toEqual([
          { ok: false, code: 'DSP_CORE_LOG_NO_SPACE' },
          { ok: false, code: 'DSP_CORE_LOG_NO_SPACE' },
          { ok: false, code: 'DSP_CORE_LOG_NO_SPACE' },
        ]);
        expect(await acked).toBe('DSP_CORE_LOG_NO_SPACE');
        expect(log.writeError?.code).toBe('DSP_CORE_LOG_NO_SPACE');
        // Nothing after the last durable record counts: numbering and the live set roll back.
        expect(log.nextSeq).toBe(3);
        expect(log.has(3)).toBe(false);
        expect(log.has(1)).toBe(false); // the ACK stays applied in memory, owed to the disk
        expect(log.stats().owedAcks).toBe(1);
        // The partial bytes were cut away before the rejection, although the disk stays full.
        expect(statSync(join(dir, '00000000000000000001.seg')).size).toBe(sizeBefore);
        fs.heal();
        expect(await log.append(body(6))).toBe(3);
        await until(() => log.writeError === undefined, 'the log to report itself writable');
        expect(log.stats().owedAcks).toBe(0);
        await log.close();
        const live = await liveBodies(dir);
        expect([...live.keys()], `k=${k} ${overBudget}`).toEqual([2, 3]);
        expect(live.get(3)).toBe(body(6).toString());
      }
    }
  });

  for (const code of ['ENOSPC', 'EIO'] as const) {
    it(`rejects appends on ${code} at write and accepts them again once the fault is gone`, async () => {
      const dir = tempDir();
      const fs = new FaultyFileSystem();
      const log = await DurableLog.open({ dir, fileSystem: fs });
      await log.append(body(1));
      fs.writeBudget = 0;
      fs.overBudget = code;
      const expected = code === 'ENOSPC' ? 'DSP_CORE_LOG_NO_SPACE' : 'DSP_CORE_LOG_IO';
      await expect(log.append(body(2))).rejects.toMatchObject({ code: expected });
      // Still failing: later appends are tried and rejected too, never resolved.
      await expect(log.append(body(3))).rejects.toMatchObject({ code: expected });
      expect(log.writeError?.code).toBe(expected);
      fs.heal();
      // Nobody appends: the probe notices the disk works again.
      await until(() => log.writeError === undefined, 'the probe');
      expect(await log.append(body(4))).toBe(2);
      await log.close();
      expect([...(await liveBodies(dir)).values()]).toEqual([body(1), body(4)].map(String));
    });
  }

  for (const [code, syncMethod] of [
    ['EIO', 'fdatasync'],
    ['ENOSPC', 'fdatasync'],
    ['EIO', 'dsync'],
  ] as const) {
    it(`never trusts a batch whose fdatasync failed with ${code}, even after a crash (${syncMethod})`, async () => {
      const dir = tempDir();
      const fs = new FaultyFileSystem();
      const log = await DurableLog.open({ dir, fileSystem: fs, fsync: { mode: 'always' }, syncMethod });
      await log.append(body(1));
      fs.failDatasync = { code, times: 1_000_000 };
      const outcomes = await Promise.all([2, 3].map((n) => settle(log.append(body(n)))));
      expect(outcomes.every((o) => !o.ok)).toBe(true);
      expect(log.has(2)).toBe(false);
      // The bytes reached the page cache; they were cut before the appends were rejected.
      log.destroy(); // as a crash right after: no close, no flush
      expect([...(await liveBodies(dir)).keys()]).toEqual([1]);
    });
  }

  it('removes a segment file started by a failed batch and reuses its name afterwards', async () => {
    const dir = tempDir();
    const fs = new FaultyFileSystem();
    const log = await DurableLog.open({ dir, fileSystem: fs, segmentMaxBytes: 200 });
    for (let i = 1; i <= 3; i++) await log.append(body(i)); // 3 × 52 B + header: the next one rolls over
    fs.failDatasync = { code: 'EIO', times: 1 };
    await expect(log.append(body(4))).rejects.toMatchObject({ code: 'DSP_CORE_LOG_IO' });
    expect(await log.append(body(5))).toBe(4);
    await log.close();
    const live = await liveBodies(dir);
    expect([...live.keys()]).toEqual([1, 2, 3, 4]);
    expect(live.get(4)).toBe(body(5).toString());
  });

  it('a failing truncate keeps the log refusing until the tail can be cut', async () => {
    const dir = tempDir();
    const fs = new FaultyFileSystem();
    const log = await DurableLog.open({ dir, fileSystem: fs });
    await log.append(body(1));
    fs.failDatasync = { code: 'EIO', times: 1 };
    fs.failTruncate = 'EIO';
    await expect(log.append(body(2))).rejects.toMatchObject({ code: 'DSP_CORE_LOG_IO' });
    // The tail of the failed batch is still in the file: nothing may be written behind it.
    await expect(log.append(body(3))).rejects.toMatchObject({ code: 'DSP_CORE_LOG_IO' });
    fs.heal();
    expect(await log.append(body(4))).toBe(2);
    await log.close();
    const live = await liveBodies(dir);
    expect([...live.values()]).toEqual([body(1), body(4)].map(String));
  });

  // With pre-allocation and O_DSYNC too: zeros written ahead (in small steps here) share the faults with
  // the batches; an fdatasync fault fails an O_DSYNC write.
  for (const [preallocateBytes, syncMethod] of [
    [0, 'fdatasync'],
    [256, 'fdatasync'],
    [256, 'dsync'],
  ] as const) {
    it(`keeps every resolved append and never revives a rejected one under random faults (preallocateBytes ${preallocateBytes}, ${syncMethod})`, async () => {
      const step = fc.oneof(
        fc.record({ kind: fc.constant('append' as const), n: fc.integer({ min: 1, max: 4 }) }),
        fc.record({ kind: fc.constant('ack' as const), pick: fc.nat() }),
        fc.record({ kind: fc.constant('full' as const), budget: fc.integer({ min: 0, max: 300 }) }),
        fc.record({ kind: fc.constant('eio-sync' as const) }),
        fc.record({ kind: fc.constant('heal' as const) }),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(step, { minLength: 1, maxLength: 25 }),
          fc.boolean(),
          async (steps, crash) => {
            const dir = tempDir();
            const fs = new FaultyFileSystem();
            const log = await DurableLog.open({
              dir,
              fileSystem: fs,
              segmentMaxBytes: 400,
              preallocateBytes,
              syncMethod,
            });
            const resolved = new Map<number, string>();
            const rejected = new Set<string>();
            const acked = new Set<number>();
            let n = 0;
            for (const s of steps) {
              if (s.kind === 'append') {
                const batch = Array.from({ length: s.n }, () => `b${++n}`);
                const outcomes = await Promise.all(
                  batch.map((text) => settle(log.append(Buffer.from(text)))),
                );
                outcomes.forEach((o, i) => {
                  const text = batch[i] as string;
                  if (o.ok) resolved.set(o.seq, text);
                  else rejected.add(text);
                });
              } else if (s.kind === 'ack') {
                const live = [...resolved.keys()].filter((seq) => !acked.has(seq));
                const seq = live[s.pick % Math.max(1, live.length)];
                if (seq !== undefined) {
                  acked.add(seq);
                  await log.ack(seq).catch(() => {});
                }
              } else if (s.kind === 'full') {
                fs.writeBudget = s.budget;
              } else if (s.kind === 'eio-sync') {
                fs.failDatasync = { code: 'EIO', times: 1 };
              } else {
                fs.heal();
              }
            }
            if (crash) log.destroy();
            else {
              fs.heal();
              await log.close();
            }
            const live = await liveBodies(dir);
            for (const [seq, text] of resolved) {
              // A resolved append survives unless acknowledged (an ACK not yet durable may leave it live).
              if (!acked.has(seq)) expect(live.get(seq)).toBe(text);
            }
            for (const text of live.values()) expect(rejected.has(text)).toBe(false);
            if (!crash) for (const seq of acked) expect(live.has(seq)).toBe(false);
          },
        ),
        { numRuns: 60 },
      );
    });
  }
});
