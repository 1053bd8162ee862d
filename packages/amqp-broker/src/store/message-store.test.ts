import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeQueueMark,
  decodeStoredMessage,
  encodeQueueMark,
  encodeStoredMessage,
} from './message-record.js';
import { MessageStore, type RecoveredMessage } from './message-store.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'dsp-store-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const msg = (n: number, queues: string[]) => ({
  publishedAt: 1_700_000_000_000 + n,
  vhost: '/',
  exchange: 'ex',
  routingKey: `key.${n}`,
  queues,
  rawProperties: Buffer.from([0x10, 0x00, 2]),
  body: Buffer.from(`body ${n}`),
});

async function recoverAll(store: MessageStore): Promise<RecoveredMessage[]> {
  const out: RecoveredMessage[] = [];
  for await (const r of store.recover()) out.push(r);
  return out;
}

describe('message records', () => {
  it('round-trip byte-exact, names included', () => {
    const m = { ...msg(1, ['q1', 'qü', 'x'.repeat(255)]), vhost: 'vh', body: Buffer.alloc(3000, 7) };
    const back = decodeStoredMessage(encodeStoredMessage(m));
    expect({
      ...back,
      body: back.body.toString('hex'),
      rawProperties: back.rawProperties.toString('hex'),
    }).toEqual({
      ...m,
      body: m.body.toString('hex'),
      rawProperties: m.rawProperties.toString('hex'),
    });
    expect(decodeQueueMark(encodeQueueMark({ messageSeq: 2 ** 40, queue: 'q' }))).toEqual({
      messageSeq: 2 ** 40,
      queue: 'q',
    });
  });

  it('refuse bytes they cannot read with a coded error', () => {
    expect(() => decodeStoredMessage(Buffer.from([9, 1, 2]))).toThrow(
      expect.objectContaining({ code: 'DSP_BROKER_STORE_CORRUPT' }),
    );
    expect(() => decodeStoredMessage(encodeStoredMessage(msg(1, ['q'])).subarray(0, 12))).toThrow(
      expect.objectContaining({ code: 'DSP_BROKER_STORE_CORRUPT' }),
    );
    expect(() => decodeQueueMark(Buffer.alloc(0))).toThrow(
      expect.objectContaining({ code: 'DSP_BROKER_STORE_CORRUPT' }),
    );
  });
});

describe('MessageStore', () => {
  it('keeps each message until every queue released it, with delivered marks, across a reopen', async () => {
    const dir = tmp();
    const store = await MessageStore.open({ dir });
    const a = store.persist(msg(1, ['q1']));
    const b = store.persist(msg(2, ['q1', 'q2']));
    const c = store.persist(msg(3, ['q1', 'q2']));
    const d = store.persist(msg(4, ['q2']));
    await Promise.all([a.durable, b.durable, c.durable, d.durable]);
    expect([a, b, c, d].map((r) => r.state)).toEqual(['durable', 'durable', 'durable', 'durable']);
    store.release(a, 'q1'); // gone
    store.delivered(b, 'q1');
    store.release(b, 'q1'); // q2 still holds it
    store.delivered(c, 'q2');
    store.release(d, 'q2');
    store.delivered(d, 'q2'); // after the last release: nothing to mark
    await store.flush();
    await store.close();

    const again = await MessageStore.open({ dir });
    const recovered = await recoverAll(again);
    expect(recovered.map((r) => [r.message.routingKey, r.queues, r.ref.delivered ?? []])).toEqual([
      ['key.2', ['q2'], ['q1']],
      ['key.3', ['q1', 'q2'], ['q2']],
    ]);
    expect(recovered[0]?.message.body.toString()).toBe('body 2');
    // Releasing what recovery handed out empties the store for good.
    for (const r of recovered) for (const q of r.queues) again.release(r.ref, q);
    await again.flush();
    expect(again.log.liveCount).toBe(0);
    await again.close();
    const third = await MessageStore.open({ dir });
    expect(await recoverAll(third)).toEqual([]);
    await third.close();
  });

  it('brings a message back after a crash only in the queues that had not released it', async () => {
    const dir = tmp();
    const store = await MessageStore.open({ dir });
    const b = store.persist(msg(2, ['q1', 'q2']));
    await b.durable;
    store.release(b, 'q1');
    await store.flush();
    // Both REMOVED marks written, the final ack not (as a crash between the two would leave it).
    store.log.destroy();
    const again = await MessageStore.open({ dir });
    const live = again.log.liveCount;
    expect(live).toBe(2); // the message and its REMOVED mark
    expect((await recoverAll(again)).map((r) => r.queues)).toEqual([['q2']]);
    await again.close();
  });

  it('fails the ref of a message the log refused, and never acks its number later', async () => {
    const store = await MessageStore.open({ dir: tmp() });
    await store.log.close();
    const ref = store.persist(msg(1, ['q']));
    await expect(ref.durable).rejects.toMatchObject({ code: 'DSP_CORE_CLOSED' });
    expect(ref.state).toBe('failed');
    store.release(ref, 'q'); // no throw, nothing written
    expect(ref.holders).toBe(0);
  });
});
