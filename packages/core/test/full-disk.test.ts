import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fillFileSystem, mountTmpfs } from '@dispatcher/tooling';
import { afterAll, describe, expect, it } from 'vitest';
import { DurableLog } from '../src/log/durable-log.js';

// A real file system that fills up: a 4 MiB tmpfs, most of it taken by a filler file.
const mount = await mountTmpfs(4 * 1024 * 1024);
if (!mount.ok) console.warn(`[core full-disk test] skipped: ${mount.reason}`);
afterAll(async () => {
  if (mount.ok) await mount.tmpfs.unmount();
});

const RECORD = 16 * 1024;

const body = (n: number) => Buffer.alloc(RECORD, `record ${n};`);

describe.skipIf(!mount.ok)('DurableLog on a file system that fills up', () => {
  it('rejects what it cannot store, keeps what it acknowledged, and resumes when space is freed', async () => {
    if (!mount.ok) return;
    const root = mount.tmpfs.dir;
    const filler = join(root, 'filler');
    writeFileSync(filler, Buffer.alloc(3 * 1024 * 1024 + 512 * 1024));
    const dir = join(root, 'log');
    const log = await DurableLog.open({ dir });
    const resolved = new Map<number, number>(); // seq -> n
    const rejected = new Set<number>();
    let n = 0;
    // Eight appends at a time (one group commit each) until the disk is full.
    while (rejected.size === 0) {
      const round = Array.from({ length: 8 }, () => ++n);
      const outcomes = await Promise.allSettled(round.map((i) => log.append(body(i))));
      outcomes.forEach((o, i) => {
        const id = round[i] as number;
        if (o.status === 'fulfilled') resolved.set(o.value, id);
        else {
          expect(o.reason).toMatchObject({ code: 'DSP_CORE_LOG_NO_SPACE' });
          rejected.add(id);
        }
      });
      expect(n).toBeLessThan(1000);
    }
    expect(resolved.size).toBeGreaterThan(0);
    expect(log.writeError?.code).toBe('DSP_CORE_LOG_NO_SPACE');
    // What is left (less than a batch) is taken too: now nothing fits.
    fillFileSystem(join(root, 'filler-2'));
    await expect(log.append(body(++n))).rejects.toMatchObject({ code: 'DSP_CORE_LOG_NO_SPACE' });
    rejected.add(n);
    // Acknowledge a few while full: their ACK records are owed, not dropped.
    const toAck = [...resolved.keys()].slice(0, 3);
    await log.ack(toAck).catch(() => {});

    rmSync(filler);
    rmSync(join(root, 'filler-2'));
    // Nobody appends: the log notices by itself.
    const deadline = Date.now() + 10_000;
    while (log.writeError && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(log.writeError).toBeUndefined();
    for (let i = 0; i < 8; i++) {
      const id = ++n;
      resolved.set(await log.append(body(id)), id);
    }
    expect(log.stats().owedAcks).toBe(0);
    await log.close();

    const again = await DurableLog.open({ dir });
    const live = new Map<number, Buffer>();
    for await (const r of again.live()) live.set(r.seq, r.body);
    await again.close();
    for (const [seq, id] of resolved) {
      if (toAck.includes(seq)) expect(live.has(seq)).toBe(false);
      else expect(live.get(seq)?.equals(body(id)), `record ${id} (seq ${seq})`).toBe(true);
    }
    expect(live.size).toBe(resolved.size - toAck.length);
  });
});
