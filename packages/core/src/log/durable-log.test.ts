import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/temp-dir.js';
import { CoreError } from '../errors.js';
import { noopLogger } from '../logger.js';
import { DurableLog } from './durable-log.js';

const body = (n: number, size = 32) => Buffer.alloc(size, `record-${n}|`);

async function collect(log: DurableLog) {
  const out: Array<{ seq: number; type: number; body: string }> = [];
  for await (const r of log.live()) out.push({ seq: r.seq, type: r.type, body: r.body.toString() });
  return out;
}

function segmentFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.seg'));
}

describe('DurableLog', () => {
  it('appends, reads back byte-exact, and numbers records in append order', async () => {
    const dir = tempDir();
    const log = await DurableLog.open({ dir });
    expect(log.nextSeq).toBe(1);
    const bin = Buffer.from([0, 255, 1, 254, 0, 0, 10, 13]);
    const seqs = await Promise.all([
      log.append(Buffer.from('a')),
      log.append(bin, { type: 7 }),
      log.append(Buffer.alloc(0)),
    ]);
    expect(seqs).toEqual([1, 2, 3]);
    expect((await log.read(2)).body.equals(bin)).toBe(true);
    expect((await log.read(2)).type).toBe(7);
    expect((await log.read(3)).body.length).toBe(0);
    expect(log.liveCount).toBe(3);
    expect(log.nextSeq).toBe(4);
    await log.close();
    const again = await DurableLog.open({ dir });
    expect(again.nextSeq).toBe(4);
    await again.close();
  });

  it('recovers live records in order after reopening, without the acknowledged ones', async () => {
    const dir = tempDir();
    const log = await DurableLog.open({ dir, fsync: { mode: 'always' } });
    for (let i = 1; i <= 50; i++) await log.append(body(i));
    expect(await log.ack([2, 4, 6, 49])).toBe(4);
    expect(await log.ack(4)).toBe(0); // already acknowledged
    expect(await log.ack(999)).toBe(0); // unknown
    await log.close();

    const again = await DurableLog.open({ dir });
    const live = await collect(again);
    expect(live.map((r) => r.seq)).toEqual(
      [...Array(50).keys()].map((i) => i + 1).filter((n) => ![2, 4, 6, 49].includes(n)),
    );
    expect(live.every((r) => r.body === body(r.seq).toString())).toBe(true);
    expect(again.recovery.liveRecords).toBe(46);
    expect(again.recovery.truncated).toEqual([]);
    expect(again.recovery.corrupt).toEqual([]);
    // New appends continue the numbering (ACK records took numbers too).
    expect(await again.append(body(51))).toBeGreaterThan(50);
    await again.close();
  });

  it("binds its own sub-part under the owner's logger without repeating the owner's `component` key", async () => {
    const bound: Array<Record<string, unknown>> = [];
    const logger = {
      ...noopLogger,
      child: (bindings: Record<string, unknown>) => (bound.push(bindings), noopLogger),
    };
    const dir = tempDir();
    const log = await DurableLog.open({ dir, logger });
    await log.close();
    expect(bound).toEqual([{ part: 'durable-log', dir }]);
  });

  it('reads a record that is still queued for writing', async () => {
    const log = await DurableLog.open({ dir: tempDir(), fsync: { mode: 'batch', maxDelayMs: 50 } });
    const appended = log.append(Buffer.from('fresh'));
    expect(log.has(1)).toBe(true);
    expect((await log.read(1)).body.toString()).toBe('fresh');
    expect(await appended).toBe(1);
    await log.close();
  });

  it('rejects bad input with coded errors and loses nothing', async () => {
    const log = await DurableLog.open({ dir: tempDir(), maxRecordBytes: 100 });
    await expect(log.append(Buffer.alloc(101))).rejects.toMatchObject({
      code: 'DSP_CORE_LOG_RECORD_TOO_LARGE',
    });
    await expect(log.append(Buffer.alloc(1), { type: 128 })).rejects.toMatchObject({
      code: 'DSP_CORE_INVALID_ARGUMENT',
    });
    await expect(log.append('text' as unknown as Uint8Array)).rejects.toMatchObject({
      code: 'DSP_CORE_INVALID_ARGUMENT',
    });
    await expect(log.read(1)).rejects.toMatchObject({ code: 'DSP_CORE_LOG_NOT_FOUND' });
    expect(await log.append(Buffer.alloc(100))).toBe(1);
    await log.close();
    await expect(DurableLog.open({ dir: '' })).rejects.toMatchObject({ code: 'DSP_CORE_INVALID_ARGUMENT' });
    await expect(DurableLog.open({ dir: tempDir(), segmentMaxBytes: -1 })).rejects.toMatchObject({
      code: 'DSP_CORE_INVALID_ARGUMENT',
    });
    await expect(
      DurableLog.open({ dir: tempDir(), fsync: { mode: 'batch', maxDelayMs: -1 } }),
    ).rejects.toMatchObject({ code: 'DSP_CORE_INVALID_ARGUMENT' });
    await expect(
      DurableLog.open({ dir: tempDir(), fsync: { mode: 'sometimes' } as never }),
    ).rejects.toMatchObject({ code: 'DSP_CORE_INVALID_ARGUMENT' });
  });

  it('refuses calls after close and rejects queued appends on destroy', async () => {
    const log = await DurableLog.open({ dir: tempDir(), fsync: { mode: 'batch', maxDelayMs: 1000 } });
    await log.append(Buffer.from('x'));
    await log.append(Buffer.from('y')); // builds up lastBatch > 1 is not needed: destroy rejects what is queued
    const queued = log.append(Buffer.from('z'));
    log.destroy(new Error('boom'));
    await expect(queued).rejects.toThrow('boom');
    await expect(log.append(Buffer.from('after'))).rejects.toMatchObject({ code: 'DSP_CORE_CLOSED' });
    await log.close(); // idempotent after destroy

    const other = await DurableLog.open({ dir: tempDir() });
    const p1 = other.close();
    expect(other.close()).toBe(p1);
    await p1;
    await expect(other.ack(1)).rejects.toMatchObject({ code: 'DSP_CORE_CLOSED' });
  });

  it('holds an exclusive lock on its directory', async () => {
    const dir = tempDir();
    const first = await DurableLog.open({ dir });
    const err = await DurableLog.open({ dir }).catch((e: unknown) => e);
    expect(CoreError.isInstance(err)).toBe(true);
    expect((err as CoreError).code).toBe('DSP_CORE_LOG_LOCKED');
    expect((err as CoreError).message).toContain(`process ${process.pid}`);
    await first.close();
    const second = await DurableLog.open({ dir });
    await second.close();
  });

  it('counts queued and in-flight records and ACKs as pending until they are durable', async () => {
    const log = await DurableLog.open({ dir: tempDir(), fsync: { mode: 'always' } });
    const seqs = await Promise.all([log.append(body(1)), log.append(body(2))]);
    expect(log.stats().pendingRecords).toBe(0);
    const acked = log.ack(seqs);
    // Acknowledged in memory at once, but not on disk: a caller waiting for "nothing pending" must wait.
    expect(log.liveCount).toBe(0);
    expect(log.stats().pendingRecords).toBe(2);
    const appended = log.append(body(3));
    expect(log.stats().pendingRecords).toBe(3);
    // The flush runs on setImmediate; whatever state the batch is in (queued, being written), it counts.
    await new Promise((resolve) => setImmediate(resolve));
    expect(log.stats().pendingRecords).toBeGreaterThan(0);
    await Promise.all([acked, appended]);
    expect(log.stats().pendingRecords).toBe(0);
    await log.close();
  });

  it('group-commits concurrent appends: far fewer syncs than records', async () => {
    const log = await DurableLog.open({ dir: tempDir(), fsync: { mode: 'always' } });
    const seqs = await Promise.all(Array.from({ length: 2000 }, (_, i) => log.append(body(i))));
    expect(new Set(seqs).size).toBe(2000);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const stats = log.stats();
    expect(stats.syncs).toBeGreaterThan(0);
    expect(stats.syncs).toBeLessThan(20);
    await log.close();
  });

  it.each([
    ['always', { mode: 'always' }],
    ['batch', { mode: 'batch', maxDelayMs: 1 }],
    ['never', { mode: 'never' }],
  ] as const)('keeps appends under the %s policy', async (_name, fsync) => {
    const dir = tempDir();
    const log = await DurableLog.open({ dir, fsync });
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(body(round * 20 + i))));
    }
    if (fsync.mode === 'never') expect(log.stats().syncs).toBe(0);
    else expect(log.stats().syncs).toBeGreaterThan(0);
    await log.close();
    const again = await DurableLog.open({ dir });
    expect(again.liveCount).toBe(100);
    await again.close();
  });

  it('rolls segments and deletes fully acknowledged ones without resurrecting acked records', async () => {
    const dir = tempDir();
    const log = await DurableLog.open({ dir, segmentMaxBytes: 1024, fsync: { mode: 'always' } });
    const seqs: number[] = [];
    for (let i = 0; i < 400; i++) seqs.push(await log.append(body(i, 100)));
    expect(segmentFiles(dir).length).toBeGreaterThan(40);
    // Keep the first record live (it pins its segment); acknowledge the rest in small groups so ACK
    // records of early segments end up in later ones.
    for (let i = 1; i < seqs.length; i += 7) await log.ack(seqs.slice(i, i + 7));
    await log.flush();
    for (let i = 0; i < 100 && segmentFiles(dir).length > 4; i++) await new Promise((r) => setTimeout(r, 10));
    expect(segmentFiles(dir).length).toBeLessThanOrEqual(4);
    await log.close();

    const again = await DurableLog.open({ dir, segmentMaxBytes: 1024 });
    expect((await collect(again)).map((r) => r.seq)).toEqual([seqs[0]]);
    // Acknowledge the last one: everything but the active segment goes.
    await again.ack(seqs[0] as number);
    await again.append(body(1000, 2000)); // force a roll so the old active segment can go too
    await again.append(body(1001, 20));
    for (let i = 0; i < 100 && segmentFiles(dir).length > 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(segmentFiles(dir).length).toBeLessThanOrEqual(2);
    await again.close();
    const third = await DurableLog.open({ dir });
    expect((await collect(third)).map((r) => r.body.slice(0, 12))).toEqual(['record-1000|', 'record-1001|']);
    await third.close();
  });

  it('keeps every segment in event-sourcing mode and replays the full history', async () => {
    const dir = tempDir();
    const log = await DurableLog.open({ dir, segmentMaxBytes: 512, retainHistory: true });
    for (let i = 1; i <= 30; i++) await log.append(body(i, 64), { type: i % 3 });
    await log.ack([1, 2, 3]);
    await log.ack(10);
    const before = segmentFiles(dir).length;
    expect((await log.read(2)).body.toString()).toBe(body(2, 64).toString()); // acked, still readable
    // close() waits for any segment deletion under way: past it, one would have happened.
    await log.close();
    expect(segmentFiles(dir).length).toBe(before);

    const again = await DurableLog.open({ dir, retainHistory: true });
    const history = [];
    for await (const e of again.replay()) history.push(e);
    const records = history.filter((e) => e.kind === 'record');
    const acks = history.filter((e) => e.kind === 'ack');
    expect(records.map((r) => r.seq)).toEqual([...Array(30).keys()].map((i) => i + 1));
    expect(records.filter((r) => r.acked).map((r) => r.seq)).toEqual([1, 2, 3, 10]);
    expect(acks.map((a) => a.acked)).toEqual([[1, 2, 3], [10]]);
    expect(history.map((e) => e.seq)).toEqual([...history.map((e) => e.seq)].sort((a, b) => a - b));
    const fromSeq = [];
    for await (const e of again.replay({ fromSeq: 29 })) fromSeq.push(e.seq);
    expect(fromSeq).toEqual([29, 30, 31, 32]);
    await again.close();

    const plain = await DurableLog.open({ dir: tempDir() });
    await expect(plain.replay().next()).rejects.toMatchObject({ code: 'DSP_CORE_LOG_NO_HISTORY' });
    await plain.close();
  });

  it('removes a segment file whose header never reached the disk and refuses foreign files', async () => {
    const dir = tempDir();
    const log = await DurableLog.open({ dir });
    await log.append(body(1));
    await log.close();
    writeFileSync(join(dir, '00000000000000000002.seg'), Buffer.from('DSPL'));
    const again = await DurableLog.open({ dir });
    expect(again.recovery.removedFiles).toEqual(['00000000000000000002.seg']);
    expect(again.liveCount).toBe(1);
    await again.close();

    writeFileSync(join(dir, '00000000000000000009.seg'), Buffer.alloc(64, 'x'));
    await expect(DurableLog.open({ dir })).rejects.toMatchObject({ code: 'DSP_CORE_LOG_FORMAT' });
  });

  it('stops a recovery when its signal aborts', async () => {
    const dir = tempDir();
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(DurableLog.open({ dir, signal: controller.signal })).rejects.toThrow('stop');
    // The lock was released: opening again works.
    const log = await DurableLog.open({ dir });
    await log.close();
  });

  it('iterates a large backlog across segments in order with bounded reads', async () => {
    const dir = tempDir();
    const log = await DurableLog.open({ dir, segmentMaxBytes: 64 * 1024, fsync: { mode: 'never' } });
    const n = 5000;
    await Promise.all(Array.from({ length: n }, (_, i) => log.append(body(i, 200))));
    await log.ack([...Array(n).keys()].filter((i) => i % 2 === 0).map((i) => i + 1));
    let count = 0;
    let prev = 0;
    for await (const r of log.live()) {
      expect(r.seq).toBeGreaterThan(prev);
      expect(r.body.equals(body(r.seq - 1, 200))).toBe(true);
      prev = r.seq;
      count++;
    }
    expect(count).toBe(n / 2);
    const tail: number[] = [];
    for await (const r of log.live({ fromSeq: n - 5 })) tail.push(r.seq);
    expect(tail).toEqual([n - 4, n - 2, n]);
    expect(log.stats().segments).toBeGreaterThan(5);
    expect(log.stats().diskBytes).toBeGreaterThan(0);
    await log.close();
    expect(statSync(dir).isDirectory()).toBe(true);
  });
});

describe('DurableLog.appendWith', () => {
  it('builds the body with the sequence number it will get, and appends nothing when the builder throws', async () => {
    const log = await DurableLog.open({ dir: tempDir() });
    const first = await log.appendWith((seq) => Buffer.from(`I am ${seq}`));
    await expect(
      log.appendWith(() => {
        throw new Error('no body');
      }),
    ).rejects.toThrow('no body');
    const second = await log.appendWith((seq) => Buffer.from(`I am ${seq}`), { type: 3 });
    expect([first, second]).toEqual([1, 2]);
    expect((await log.read(2)).body.toString()).toBe('I am 2');
    expect((await log.read(2)).type).toBe(3);
    await log.close();
  });
});

describe('DurableLog reads', () => {
  it('serves many concurrent reads across segments byte-exact from shared read-ahead windows', async () => {
    const log = await DurableLog.open({
      dir: tempDir(),
      segmentMaxBytes: 100 * 1024,
      fsync: { mode: 'never' },
    });
    const n = 3000;
    const seqs = await Promise.all(Array.from({ length: n }, (_, i) => log.append(body(i, 50 + (i % 400)))));
    const shuffled = [...seqs].sort((a, b) => ((a * 7919) % n) - ((b * 7919) % n));
    const records = await Promise.all(shuffled.map((s) => log.read(s)));
    for (const r of records) expect(r.body.equals(body(r.seq - 1, 50 + ((r.seq - 1) % 400)))).toBe(true);
    expect(log.stats().segments).toBeGreaterThan(5);
    await log.close();
  });
});
