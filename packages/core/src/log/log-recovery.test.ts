import {
  closeSync,
  copyFileSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/temp-dir.js';
import { DurableLog } from './durable-log.js';
import { FRAME_HEADER_BYTES } from './record-frame.js';
import { SEGMENT_HEADER_BYTES } from './segment-file.js';

const payload = (i: number) => Buffer.from(`payload-${i}-`.repeat(3 + (i % 5)));

/** Writes `n` records into one segment and returns the directory, the file and each frame's offset. */
async function writeLog(n: number) {
  const dir = tempDir();
  const log = await DurableLog.open({ dir, fsync: { mode: 'always' } });
  for (let i = 1; i <= n; i++) await log.append(payload(i));
  await log.close();
  const file = readdirSync(dir).find((f) => f.endsWith('.seg')) as string;
  const offsets: number[] = [];
  let pos = SEGMENT_HEADER_BYTES;
  for (let i = 1; i <= n; i++) {
    offsets.push(pos);
    pos += FRAME_HEADER_BYTES + payload(i).length;
  }
  expect(statSync(join(dir, file)).size).toBe(pos);
  return { dir, file, offsets, size: pos };
}

function copyDir(from: string, file: string): string {
  const to = tempDir('dsp-core-copy-');
  mkdirSync(to, { recursive: true });
  copyFileSync(join(from, file), join(to, file));
  return to;
}

async function liveSeqsAndCheck(log: DurableLog): Promise<number[]> {
  const seqs: number[] = [];
  for await (const r of log.live()) {
    expect(r.body.equals(payload(r.seq))).toBe(true);
    seqs.push(r.seq);
  }
  return seqs;
}

describe('log recovery', () => {
  it('cuts a torn tail at every byte offset of the last record and keeps the rest', async () => {
    const n = 6;
    const { dir, file, offsets, size } = await writeLog(n);
    const last = offsets[n - 1] as number;
    for (let cut = last; cut < size; cut++) {
      const copy = copyDir(dir, file);
      truncateSync(join(copy, file), cut);
      const log = await DurableLog.open({ dir: copy });
      expect(await liveSeqsAndCheck(log)).toEqual([1, 2, 3, 4, 5]);
      if (cut === last) expect(log.recovery.truncated).toEqual([]);
      else expect(log.recovery.truncated).toEqual([{ file, offset: last, bytes: cut - last }]);
      expect(statSync(join(copy, file)).size).toBe(last);
      // The log goes on from the cut: the next append takes the lost record's number.
      expect(await log.append(payload(n))).toBe(n);
      await log.close();
      const again = await DurableLog.open({ dir: copy });
      expect(await liveSeqsAndCheck(again)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(again.recovery.truncated).toEqual([]);
      await again.close();
    }
  });

  it('reports and skips a bit flip in a middle record at every byte, never silently', async () => {
    const n = 5;
    const { dir, file, offsets } = await writeLog(n);
    const target = 3;
    const start = offsets[target - 1] as number;
    const end = offsets[target] as number;
    for (let at = start; at < end; at++) {
      const copy = copyDir(dir, file);
      const bytes = readFileSync(join(copy, file));
      bytes[at] = (bytes[at] as number) ^ (1 << (at % 8));
      writeFileSync(join(copy, file), bytes);
      const log = await DurableLog.open({ dir: copy });
      expect(await liveSeqsAndCheck(log)).toEqual([1, 2, 4, 5]);
      expect(log.recovery.corrupt).toEqual([
        {
          file,
          offset: start,
          length: end - start,
          lostSeqs: [target, target],
          reason: 'checksum or framing mismatch',
        },
      ]);
      expect(log.recovery.truncated).toEqual([]);
      await expect(log.read(target)).rejects.toMatchObject({ code: 'DSP_CORE_LOG_NOT_FOUND' });
      await log.close();
    }
  });

  it('treats a damaged last record as a torn tail and says so', async () => {
    const { dir, file, offsets, size } = await writeLog(4);
    const copy = copyDir(dir, file);
    const bytes = readFileSync(join(copy, file));
    const at = (offsets[3] as number) + FRAME_HEADER_BYTES + 2;
    bytes[at] = (bytes[at] as number) ^ 0x10;
    writeFileSync(join(copy, file), bytes);
    const log = await DurableLog.open({ dir: copy });
    expect(await liveSeqsAndCheck(log)).toEqual([1, 2, 3]);
    expect(log.recovery.truncated).toEqual([
      { file, offset: offsets[3], bytes: size - (offsets[3] as number) },
    ]);
    await log.close();
  });

  it('refuses a segment whose header is damaged instead of guessing', async () => {
    const { dir, file } = await writeLog(2);
    for (const at of [0, 7, 9]) {
      const copy = copyDir(dir, file);
      const bytes = readFileSync(join(copy, file));
      bytes[at] = (bytes[at] as number) ^ 1;
      writeFileSync(join(copy, file), bytes);
      await expect(DurableLog.open({ dir: copy })).rejects.toMatchObject({ code: 'DSP_CORE_LOG_FORMAT' });
    }
  });

  it('detects corruption of a record on read after open', async () => {
    const dir = tempDir();
    const log = await DurableLog.open({ dir });
    await log.append(payload(1));
    await log.append(payload(2));
    await log.flush();
    const file = readdirSync(dir).find((f) => f.endsWith('.seg')) as string;
    const fd = openSync(join(dir, file), 'r+');
    writeSync(fd, Buffer.from('X'), 0, 1, SEGMENT_HEADER_BYTES + FRAME_HEADER_BYTES + 1);
    closeSync(fd);
    await expect(log.read(1)).rejects.toMatchObject({ code: 'DSP_CORE_LOG_CORRUPT' });
    expect((await log.read(2)).body.equals(payload(2))).toBe(true);
    await log.close();
  });

  it('recovers a lost range between segments and records after it', async () => {
    const dir = tempDir();
    const log = await DurableLog.open({ dir, segmentMaxBytes: 200, fsync: { mode: 'always' } });
    for (let i = 1; i <= 12; i++) await log.append(payload(i));
    await log.close();
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.seg'))
      .sort();
    expect(files.length).toBeGreaterThan(3);
    // Cut the tail of a closed (not last) segment: its records are lost and reported, later ones stay.
    const victim = join(dir, files[1] as string);
    const size = statSync(victim).size;
    truncateSync(victim, size - 3);
    const again = await DurableLog.open({ dir });
    expect(again.recovery.truncated).toHaveLength(1);
    expect(again.recovery.truncated[0]?.file).toBe(files[1]);
    const seqs = await liveSeqsAndCheck(again);
    expect(seqs.length).toBe(11);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs.at(-1)).toBe(12);
    await again.close();
  });
});

describe('log recovery of well-formed but unreadable records', () => {
  it('reports a checksummed record of an unknown internal type instead of skipping it silently', async () => {
    const { writeFrame } = await import('./record-frame.js');
    const { dir, file, size } = await writeLog(2);
    const odd = Buffer.alloc(FRAME_HEADER_BYTES + 3);
    writeFrame(odd, 0, 200, 3, Buffer.from('abc'));
    const bad = Buffer.alloc(FRAME_HEADER_BYTES + 2);
    writeFrame(bad, 0, 128, 4, Buffer.from([0x85, 0x80])); // an ACK whose payload does not decode
    writeFileSync(join(dir, file), Buffer.concat([readFileSync(join(dir, file)), odd, bad]));
    const log = await DurableLog.open({ dir });
    expect(log.recovery.corrupt).toEqual([
      { file, offset: size, length: 3, reason: 'unreadable record of type 200' },
      { file, offset: size + odd.length, length: 2, reason: 'unreadable record of type 128' },
    ]);
    expect(await liveSeqsAndCheck(log)).toEqual([1, 2]);
    expect(await log.append(payload(5))).toBe(5);
    await log.close();
  });
});
