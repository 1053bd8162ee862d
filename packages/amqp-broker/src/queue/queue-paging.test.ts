import { describe, expect, it } from 'vitest';
import type { FieldValue } from '../codec/field-table.js';
import { StoredRef } from '../store/stored-ref.js';
import { MemoryGauge } from './memory-gauge.js';
import { Message } from './message.js';
import { Queue, type QueueConsumer, type QueueStoreHooks } from './queue.js';

/** A message store in memory: "paged" messages are looked up again by their log sequence number. */
function fakeStore(windowBytes: number) {
  const log = new Map<number, string>();
  const released: number[] = [];
  const pagedReleased: number[] = [];
  let nextSeq = 1;
  const hooks: QueueStoreHooks = {
    delivered: () => {},
    released: (_q, m) => released.push(m.stored!.seq),
    pageWindowBytes: windowBytes,
    load: async (seqs) =>
      seqs.map((s) => {
        const body = log.get(s);
        return body === undefined ? undefined : stored(s, body);
      }),
    releasePaged: (seqs) => pagedReleased.push(...seqs),
  };
  function stored(seq: number, body: string): Message {
    const m = new Message('', 'q', Buffer.from([0, 0]), Buffer.from(body));
    m.stored = new StoredRef(seq, 1, Promise.resolve());
    m.stored.state = 'durable';
    return m;
  }
  return {
    hooks,
    released,
    pagedReleased,
    log,
    /** A message whose stored copy is durable (pageable). */
    message(body: string): Message {
      const seq = nextSeq++;
      log.set(seq, body);
      return stored(seq, body);
    },
  };
}

function consumer(credit: { n: number }): QueueConsumer & { got: string[] } {
  const got: string[] = [];
  return {
    tag: 'c',
    exclusive: false,
    priority: 0,
    got,
    canDeliver: () => got.length < credit.n,
    deliver: (_q, e) => got.push(e.message.body.toString()),
    cancelledByBroker: () => {},
  };
}

function pagedQueue(windowBytes: number, gauge = new MemoryGauge()) {
  const store = fakeStore(windowBytes);
  const q = new Queue({
    name: 'q',
    durable: true,
    owner: undefined,
    autoDelete: false,
    arguments: new Map(),
    gauge,
  });
  q.store = store.hooks;
  return { q, store, gauge };
}

async function until(predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((r) => setImmediate(r));
  }
}

const bodies = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => `m${String(from + i).padStart(4, '0')}`);

describe('Queue paging', () => {
  it('keeps only the window in memory and delivers everything in order as it reads back', async () => {
    const { q, store, gauge } = pagedQueue(50); // 5 bodies of 5 bytes… ×2
    for (const b of bodies(1000)) q.enqueue(store.message(b));
    expect(q.messageCount).toBe(1000);
    expect(q.messageBytes).toBe(5000);
    // The window (50 bytes) stays; everything else is paged out.
    expect(gauge.bytes).toBeLessThanOrEqual(50);
    const credit = { n: 1000 };
    const c = consumer(credit);
    q.addConsumer(c);
    await until(() => c.got.length === 1000);
    expect(c.got).toEqual(bodies(1000));
    expect(q.messageCount).toBe(0);
    expect(gauge.bytes).toBe(0);
  });

  it('new messages behind paged ones wait their turn; a message not yet durable stays in memory', async () => {
    const { q, store } = pagedQueue(20);
    for (const b of bodies(10)) q.enqueue(store.message(b));
    const pending = new Message('', 'q', Buffer.from([0, 0]), Buffer.from('late1'));
    pending.stored = new StoredRef(999, 1, new Promise(() => {})); // never durable
    q.enqueue(pending);
    for (const b of bodies(5, 10)) q.enqueue(store.message(b));
    const c = consumer({ n: 100 });
    q.addConsumer(c);
    await until(() => c.got.length === 16);
    expect(c.got).toEqual([...bodies(10), 'late1', ...bodies(5, 10)]);
  });

  it('pages out a tail that becomes durable after the last publish (no later enqueue to trigger it)', async () => {
    const { q, store, gauge } = pagedQueue(20);
    for (const b of bodies(4)) q.enqueue(store.message(b)); // the window: 20 bytes
    let written!: () => void;
    const onDisk = new Promise<void>((r) => {
      written = r;
    });
    for (const b of bodies(50, 4)) {
      const m = new Message('', 'q', Buffer.from([0, 0]), Buffer.from(b));
      const ref = new StoredRef(1000 + q.messageCount, 1, onDisk);
      // As MessageStore.persist: the state changes before anyone else hears of the write.
      void onDisk.then(() => {
        ref.state = 'durable';
      });
      m.stored = ref;
      q.enqueue(m);
    }
    // Nothing written yet: the tail is held in memory.
    expect(gauge.bytes).toBe(270);
    written();
    await until(() => gauge.bytes === 20);
    expect(q.messageCount).toBe(54);
  });

  it('requeued messages go back before the paged ones', async () => {
    const { q, store } = pagedQueue(20);
    for (const b of bodies(20)) q.enqueue(store.message(b));
    const first = q.shift()!;
    q.requeue([first]);
    const c = consumer({ n: 100 });
    q.addConsumer(c);
    await until(() => c.got.length === 20);
    expect(c.got).toEqual(bodies(20));
  });

  it('purge and delete release paged messages in the log, including those being read back', async () => {
    const { q, store, gauge } = pagedQueue(20);
    for (const b of bodies(100)) q.enqueue(store.message(b));
    const c = consumer({ n: 10 });
    q.addConsumer(c); // takes the window, starts reading the next ones back
    expect(q.purge()).toBe(100 - c.got.length);
    expect(gauge.bytes).toBe(0);
    await until(() => store.released.length + store.pagedReleased.length === 100 - c.got.length);
    const all = [...store.released, ...store.pagedReleased].sort((a, b) => a - b);
    expect(new Set(all).size).toBe(all.length);
    expect(q.messageCount).toBe(0);
    // The queue still works afterwards.
    q.enqueue(store.message('after'));
    await until(() => c.got.includes('after') || q.messageCount === 1);
  });

  it('a message that cannot be read back is dropped and counted out', async () => {
    const { q, store } = pagedQueue(10);
    for (const b of bodies(10)) q.enqueue(store.message(b));
    store.log.delete(5); // "m0004"
    const c = consumer({ n: 100 });
    q.addConsumer(c);
    await until(() => q.messageCount === 0);
    expect(c.got).toEqual(bodies(10).filter((b) => b !== 'm0004'));
  });

  it('never pages a queue with a length limit or priorities', () => {
    const int = (value: number): FieldValue => ({ type: 'int32', value });
    for (const args of [new Map([['x-max-length', int(10_000)]]), new Map([['x-max-priority', int(3)]])]) {
      const store = fakeStore(10);
      const gauge = new MemoryGauge();
      const q = new Queue({
        name: 'q',
        durable: true,
        owner: undefined,
        autoDelete: false,
        arguments: args,
        gauge,
      });
      q.store = store.hooks;
      for (const b of bodies(100)) q.enqueue(store.message(b));
      expect(gauge.bytes).toBe(500);
    }
  });
});
