/**
 * Memory bounds: idempotency keys, dead-letter ids, delivered ids and per-destination states are capped,
 * oldest (or least recently used idle) first, and what must survive a restart does.
 */
import { describe, expect, it } from 'vitest';
import {
  deadLetterCount,
  eventually,
  STORE,
  send,
  sink,
  startProxy,
  tempDir,
  to,
} from './helpers/start-proxy.js';

// The caps of the embedded store's in-memory indexes; the PostgreSQL store keeps these in the database.
const embeddedOnly = it.skipIf(STORE === 'postgres');

const get = (proxy: Parameters<typeof send>[0], path: string) => send(proxy, path, { method: 'GET' });

describe('bounded indexes', () => {
  embeddedOnly(
    'forgets the oldest idempotency key past maxIdempotencyKeys, across a restart too',
    async () => {
      const dataDir = tempDir();
      const dest = await sink();
      const first = await startProxy({ dataDir, maxIdempotencyKeys: 3 });
      const key = (k: string) => to(dest, { 'x-dispatcher-idempotency-key': k });
      const ids: Record<string, string> = {};
      for (const k of ['k1', 'k2', 'k3', 'k4'])
        ids[k] = (await send(first, '/pay', key(k))).json.id as string;
      const again = await send(first, '/pay', key('k2'));
      expect([again.json.id, again.headers.get('x-dispatcher-idempotent-replay')]).toEqual([ids.k2, 'true']);
      const evicted = await send(first, '/pay', key('k1')); // k1 was the oldest: accepted anew (and evicts k2)
      expect(evicted.json.id).not.toBe(ids.k1);
      expect(evicted.headers.get('x-dispatcher-idempotent-replay')).toBeNull();
      await eventually(() => dest.received.length === 5 && first.engine.backlog === 0);
      await first.close();

      const second = await startProxy({ dataDir, maxIdempotencyKeys: 3 });
      for (const [k, id] of [
        ['k4', ids.k4],
        ['k1', evicted.json.id],
      ]) {
        const res = await send(second, '/pay', key(k as string));
        expect([k, res.json.id, res.headers.get('x-dispatcher-idempotent-replay')]).toEqual([k, id, 'true']);
      }
      expect(
        (await send(second, '/pay', key('k2'))).headers.get('x-dispatcher-idempotent-replay'),
      ).toBeNull();
    },
  );

  embeddedOnly(
    'indexes the newest maxDeadLetterIds dead letters and still finds older ones by id',
    async () => {
      const dest = await sink();
      dest.behave = () => ({ kind: 'status', status: 404 });
      const proxy = await startProxy({ maxDeadLetterIds: 2 });
      const ids: string[] = [];
      for (const path of ['/a', '/b', '/c']) ids.push((await send(proxy, path, to(dest))).json.id as string);
      await eventually(() => proxy.store.deadLetterCount === 3);
      expect(proxy.store.indexedDeadLetterIds).toBe(2);
      const oldest = ids[0] as string;
      expect((await get(proxy, `/_dispatcher/messages/${oldest}`)).json).toMatchObject({
        status: 'dead-lettered',
        target: `${dest.url}/a`,
      });
      expect((await get(proxy, `/_dispatcher/dead-letters/${oldest}`)).json).toMatchObject({ id: oldest });
      dest.behave = () => ({ kind: 'status', status: 200 });
      const redrive = await send(proxy, '/_dispatcher/dead-letters/redrive', {
        body: JSON.stringify({ ids: [oldest] }),
      });
      expect(redrive.json.count).toBe(1);
      await eventually(() => dest.received.filter((r) => r.url === '/a').length === 2);
      expect(proxy.store.deadLetterCount).toBe(2);
    },
  );

  embeddedOnly(
    'answers delivered for the newest maxDeliveredIds ids after a restart, 404 for older ones',
    async () => {
      const dataDir = tempDir();
      const dest = await sink();
      dest.behave = (_r, i) => ({ kind: 'status', status: i === 0 ? 503 : 201 });
      const first = await startProxy({ dataDir, maxDeliveredIds: 2 });
      const ids: string[] = [];
      for (const path of ['/a', '/b', '/c']) {
        ids.push((await send(first, path, to(dest))).json.id as string);
        await eventually(() => first.engine.backlog === 0);
      }
      await first.close();
      const second = await startProxy({ dataDir, maxDeliveredIds: 2 });
      expect((await get(second, `/_dispatcher/messages/${ids[0]}`)).status).toBe(404);
      expect((await get(second, `/_dispatcher/messages/${ids[1]}`)).json).toMatchObject({
        status: 'delivered',
        attempts: 1,
        lastStatus: 201,
      });
      expect((await get(second, `/_dispatcher/messages/${ids[2]}`)).json).toMatchObject({
        status: 'delivered',
      });
    },
  );
});

describe.runIf(STORE === 'postgres')('fleet mode: the same look-ups from the database', () => {
  it('keeps every idempotency key, dead-letter id and delivered id across a restart, past the memory caps', async () => {
    const dataDir = tempDir();
    const dest = await sink();
    dest.behave = (r) => ({ kind: 'status', status: r.url === '/dead' ? 404 : 201 });
    const caps = { maxIdempotencyKeys: 1, maxDeadLetterIds: 1, maxDeliveredIds: 1 };
    const first = await startProxy({ dataDir, ...caps });
    const key = (k: string) => to(dest, { 'x-dispatcher-idempotency-key': k });
    const ids: Record<string, string> = {};
    for (const k of ['k1', 'k2', 'k3']) ids[k] = (await send(first, '/pay', key(k))).json.id as string;
    const dead = [
      (await send(first, '/dead', to(dest))).json.id,
      (await send(first, '/dead', to(dest))).json.id,
    ];
    await eventually(async () => (await deadLetterCount(first)) === 2 && first.engine.backlog === 0);
    await first.close();

    const second = await startProxy({ dataDir, ...caps });
    for (const k of ['k1', 'k2', 'k3']) {
      const res = await send(second, '/pay', key(k));
      expect([k, res.json.id, res.headers.get('x-dispatcher-idempotent-replay')]).toEqual([
        k,
        ids[k],
        'true',
      ]);
    }
    for (const k of ['k1', 'k2', 'k3'])
      expect((await get(second, `/_dispatcher/messages/${ids[k]}`)).json).toMatchObject({
        status: 'delivered',
        lastStatus: 201,
      });
    for (const id of dead)
      expect((await get(second, `/_dispatcher/dead-letters/${id}`)).json).toMatchObject({ id });
    expect(dest.received.filter((r) => r.url === '/pay')).toHaveLength(3);
  });
});

describe('per-destination state', () => {
  it('drops the state of an idle destination past maxDestinations, never one whose breaker is open', async () => {
    const [a, b, c] = [await sink(), await sink(), await sink()];
    a.behave = () => ({ kind: 'status', status: 503 });
    const cooldownMs = 400;
    const proxy = await startProxy({ maxDestinations: 2, failureThreshold: 1, cooldownMs });
    // a fails once: its breaker opens, and its request is dead-lettered (no retries).
    await send(proxy, '/a1', to(a, { 'x-dispatcher-retry-limit': '0' }));
    await eventually(async () => (await deadLetterCount(proxy)) === 1);
    const openedAt = a.received[0]!.at;
    await send(proxy, '/b1', to(b));
    await b.waitFor(1);
    await eventually(() => proxy.engine.backlog === 0);
    expect(proxy.engine.destinations).toBe(2);
    // A third destination: b is idle and dropped; a (breaker open) is kept.
    await send(proxy, '/c1', to(c));
    await c.waitFor(1);
    expect(proxy.engine.destinations).toBe(2);
    // a's breaker still holds its request until the cooldown ends: a fresh state would send it at once.
    a.behave = () => ({ kind: 'status', status: 200 });
    await send(proxy, '/a2', to(a));
    await a.waitFor(2, 5000);
    expect(a.received[1]!.at - openedAt).toBeGreaterThanOrEqual(cooldownMs - 20);
    // b comes back with a fresh state (c is idle now and gives way) and is delivered as before.
    await send(proxy, '/b2', to(b));
    await b.waitFor(2);
    await eventually(() => proxy.engine.backlog === 0);
    expect(proxy.engine.destinations).toBe(2);
    expect(b.received.map((r) => r.url)).toEqual(['/b1', '/b2']);
  });

  it('keeps the state of a destination with a request in flight', async () => {
    const [a, b] = [await sink(), await sink()];
    a.behave = () => ({ kind: 'hang' });
    const proxy = await startProxy({ maxDestinations: 1 });
    await send(proxy, '/a', to(a));
    await a.waitFor(1);
    await send(proxy, '/b', to(b));
    await b.waitFor(1);
    expect(proxy.engine.destinations).toBe(2); // the cap is passed rather than drop a state in use
    await eventually(() => proxy.engine.backlog === 1);
    expect(proxy.engine.inflight).toBe(1);
  });
});
