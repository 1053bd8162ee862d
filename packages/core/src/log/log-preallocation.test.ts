import { closeSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FaultyFileSystem } from '../../test/helpers/faulty-file-system.js';
import { tempDir } from '../../test/helpers/temp-dir.js';
import { DurableLog } from './durable-log.js';
import { FRAME_HEADER_BYTES } from './record-frame.js';
import { SEGMENT_HEADER_BYTES } from './segment-file.js';

const AHEAD = 64 * 1024;
const body = (n: number) => Buffer.from(`record-${n}|`.repeat(4));
const FRAME = FRAME_HEADER_BYTES + body(1).length;
const SEGMENT = '00000000000000000001.seg';

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function reopen(dir: string) {
  const log = await DurableLog.open({ dir });
  const live = new Map<number, string>();
  for await (const r of log.live()) live.set(r.seq, r.body.toString());
  const { truncated, corrupt } = log.recovery;
  await log.close();
  return { live, truncated, corrupt };
}

/** 20 records (1..5 acknowledged) in a segment with zeros written ahead of them, then a crash. */
async function crashedPreallocatedLog(): Promise<string> {
  const dir = tempDir();
  const log = await DurableLog.open({ dir, preallocateBytes: AHEAD });
  for (let i = 1; i <= 20; i++) await log.append(body(i));
  await log.ack([1, 2, 3, 4, 5]);
  await until(() => log.stats().preallocatedBytes > AHEAD / 2, 'zeros ahead of the records');
  log.destroy(); // as kill -9: no close
  return dir;
}

describe('DurableLog pre-allocation', () => {
  it('keeps zeros written and synced ahead of the records, and batches overwrite them', async () => {
    const dir = tempDir();
    const log = await DurableLog.open({ dir, preallocateBytes: AHEAD });
    await log.append(body(1));
    await until(() => log.stats().preallocatedBytes > 0, 'the first zeros');
    const allocated = statSync(join(dir, SEGMENT)).size;
    await Promise.all([2, 3, 4].map((n) => log.append(body(n))));
    // Written into the allocated space, with zeros (only) after them.
    const dataEnd = SEGMENT_HEADER_BYTES + 4 * FRAME;
    expect(dataEnd).toBeLessThan(allocated);
    const bytes = readFileSync(join(dir, SEGMENT));
    expect(bytes.length).toBeGreaterThanOrEqual(allocated);
    expect(bytes.subarray(dataEnd).every((b) => b === 0)).toBe(true);
    await log.close();
    expect([...(await reopen(dir)).live.values()]).toEqual([1, 2, 3, 4].map((n) => body(n).toString()));
  });

  it('recovers a crashed pre-allocated segment: nothing acknowledged lost, nothing acked back, no damage reported', async () => {
    const dir = await crashedPreallocatedLog();
    const { live, truncated, corrupt } = await reopen(dir);
    expect([...live.keys()]).toEqual(Array.from({ length: 15 }, (_, i) => i + 6));
    expect(live.get(20)).toBe(body(20).toString());
    // Zeros after the last record are the end of the data, not a torn write.
    expect(truncated).toEqual([]);
    expect(corrupt).toEqual([]);
  });

  it('cuts a torn write inside the zeros as a torn tail and keeps every record before it', async () => {
    const dir = await crashedPreallocatedLog();
    const bytes = readFileSync(join(dir, SEGMENT));
    let end = bytes.length;
    while (bytes[end - 1] === 0) end--;
    // The start of the next batch reached the disk, its end did not (the zeros are still there).
    const torn = Buffer.from(bytes.subarray(SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + FRAME - 7));
    torn.writeUInt32LE(22, 12); // the sequence number it would have had
    const fd = openSync(join(dir, SEGMENT), 'r+');
    writeSync(fd, torn, 0, torn.length, end);
    closeSync(fd);
    const { live, truncated, corrupt } = await reopen(dir);
    expect([...live.keys()]).toEqual(Array.from({ length: 15 }, (_, i) => i + 6));
    expect(truncated).toEqual([{ file: SEGMENT, offset: end, bytes: bytes.length - end }]);
    expect(corrupt).toEqual([]);
  });

  it('a failed zero write (disk full) fails no acknowledged append and loses nothing', async () => {
    const dir = tempDir();
    const fs = new FaultyFileSystem();
    const log = await DurableLog.open({ dir, fileSystem: fs, preallocateBytes: AHEAD });
    // Room for the first batch and part of the zeros behind it.
    fs.writeBudget = SEGMENT_HEADER_BYTES + FRAME + 1000;
    expect(await log.append(body(1))).toBe(1);
    await until(() => fs.shortWrites > 0, 'the zero write to hit the full disk');
    // The disk is full: the next append is refused, never resolved and lost; the first stays.
    await expect(log.append(body(2))).rejects.toMatchObject({ code: 'DSP_CORE_LOG_NO_SPACE' });
    expect(log.has(1)).toBe(true);
    fs.heal();
    expect(await log.append(body(3))).toBe(2);
    await until(() => log.writeError === undefined, 'the log to report itself writable');
    // Pre-allocation resumes once the disk takes writes again.
    await until(() => log.stats().preallocatedBytes > 0, 'zeros after the fault');
    expect(await log.append(body(4))).toBe(3);
    log.destroy();
    const { live, corrupt } = await reopen(dir);
    expect([...live.values()]).toEqual([1, 3, 4].map((n) => body(n).toString()));
    expect(corrupt).toEqual([]);
  });

  for (const [code, syncMethod] of [
    ['EIO', 'fdatasync'],
    ['ENOSPC', 'fdatasync'],
    ['EIO', 'dsync'],
  ] as const) {
    it(`never revives a batch whose sync failed with ${code} in pre-allocated space, even after a crash (${syncMethod})`, async () => {
      const dir = tempDir();
      const fs = new FaultyFileSystem();
      const log = await DurableLog.open({ dir, fileSystem: fs, preallocateBytes: AHEAD, syncMethod });
      await log.append(body(1));
      await log.append(body(2));
      await until(() => log.stats().preallocatedBytes > 0, 'the zeros');
      fs.failDatasync = { code, times: 1 };
      const outcomes = await Promise.allSettled([3, 4].map((n) => log.append(body(n))));
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
      log.destroy();
      const { live } = await reopen(dir);
      expect([...live.values()]).toEqual([1, 2].map((n) => body(n).toString()));
    });
  }

  it('rolls segments with pre-allocation on and reads every record back', async () => {
    const dir = tempDir();
    const log = await DurableLog.open({ dir, preallocateBytes: 4096, segmentMaxBytes: 8192 });
    const seqs = await Promise.all(Array.from({ length: 400 }, (_, i) => log.append(body(i + 1))));
    expect(seqs).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
    await log.close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.seg')).length).toBeGreaterThan(2);
    const { live, truncated, corrupt } = await reopen(dir);
    expect(live.size).toBe(400);
    expect(live.get(400)).toBe(body(400).toString());
    expect(truncated).toEqual([]);
    expect(corrupt).toEqual([]);
  });

  it('rejects a negative preallocateBytes', async () => {
    await expect(DurableLog.open({ dir: tempDir(), preallocateBytes: -1 })).rejects.toMatchObject({
      code: 'DSP_CORE_INVALID_ARGUMENT',
    });
  });
});
