/** The proxy on the PostgreSQL store, in this process: the behaviours the embedded store tests cover. */
import { noopLogger } from '@dispatcher/core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { HttpProxy } from '../src/http-proxy.js';
import type { HttpProxyOptions } from '../src/proxy-options.js';
import { claimWriteSql } from '../src/store/pg/claim-sql.js';
import { MIGRATIONS, migrate, SCHEMA_VERSION } from '../src/store/pg/pg-migrations.js';
import { type BreakerTicket, type ClaimedRequest, PgStore } from '../src/store/pg/pg-store.js';
import { encodeStoredRequest } from '../src/store/stored-request.js';
import { createTestDatabase, databaseForFile } from './helpers/pg-database.js';
import { eventually, onCleanup, send, sink, startPgProxy, to } from './helpers/start-proxy.js';

const db = databaseForFile();

function pgProxy(options: Partial<HttpProxyOptions> = {}): Promise<HttpProxy> {
  return startPgProxy(db.url, { shutdownTimeoutMs: 500, ...options });
}

/** Stores a POST of `path` (its body too) to `origin` directly in `store`. */
function acceptTo(store: PgStore, origin: string, path: string) {
  return store.accept(
    (id) => ({
      message: { id, body: Buffer.from(path), headers: {}, attempt: 0, createdAt: Date.now() },
      method: 'POST',
      target: `${origin}${path}`,
    }),
    Date.now(),
  );
}

describe('PostgreSQL store', () => {
  it('answers 202 once stored, delivers with the same headers, and reports the message delivered', async () => {
    const dest = await sink();
    const proxy = await pgProxy();
    const r = await send(proxy, '/hook?a=1', { ...to(dest, { 'x-custom': 'v' }), body: 'hello' });
    expect(r.status).toBe(202);
    const id = r.json.id as string;
    await dest.waitFor(1);
    const got = dest.received[0];
    expect(got?.url).toBe('/hook?a=1');
    expect(got?.body.toString()).toBe('hello');
    expect(got?.headers['x-custom']).toBe('v');
    expect(got?.headers['x-dispatcher-message-id']).toBe(id);
    await eventually(async () => {
      const s = await send(proxy, `/_dispatcher/messages/${id}`, { method: 'GET' });
      return s.json.status === 'delivered';
    });
  });

  it('retries failed attempts and dead-letters after the retry limit; a redrive with edits delivers', async () => {
    const dest = await sink();
    dest.behave = (req) => ({ kind: 'status', status: req.headers['x-fixed'] === 'yes' ? 200 : 503 });
    const proxy = await pgProxy({ retryLimit: 2 });
    const r = await send(proxy, '/x', { ...to(dest), body: 'b' });
    const id = r.json.id as string;
    await dest.waitFor(3);
    await eventually(async () => {
      const s = await send(proxy, `/_dispatcher/messages/${id}`, { method: 'GET' });
      return s.json.status === 'dead-lettered';
    });
    expect(dest.received.map((x) => x.headers['x-dispatcher-attempt'])).toEqual(['1', '2', '3']);
    const list = await send(proxy, '/_dispatcher/dead-letters?status=503', { method: 'GET' });
    expect((list.json.items as Array<{ id: string }>).map((i) => i.id)).toContain(id);
    const redrive = await send(proxy, '/_dispatcher/dead-letters/redrive', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ids: [id], edit: { headers: { 'x-fixed': 'yes' } } }),
    });
    expect(redrive.json.count).toBe(1);
    await dest.waitFor(4);
    expect(dest.received[3]?.headers['x-dispatcher-message-id']).toBe(id);
    await eventually(async () => {
      const s = await send(proxy, `/_dispatcher/messages/${id}`, { method: 'GET' });
      return s.json.status === 'delivered';
    });
    const purge = await send(proxy, '/_dispatcher/dead-letters/purge', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ all: true }),
    });
    expect(purge.json.purged).toBe(0);
  });

  it('stores one request for an idempotency key sent to two instances', async () => {
    const dest = await sink();
    dest.behave = () => ({ kind: 'hang' });
    const a = await pgProxy();
    const b = await pgProxy();
    const key = `k-${Math.random()}`;
    const [ra, rb] = await Promise.all([
      send(a, '/i', { ...to(dest, { 'x-dispatcher-idempotency-key': key }), body: '1' }),
      send(b, '/i', { ...to(dest, { 'x-dispatcher-idempotency-key': key }), body: '2' }),
    ]);
    expect(ra.status).toBe(202);
    expect(rb.status).toBe(202);
    expect(ra.json.id).toBe(rb.json.id);
    const replays = [ra, rb].filter((r) => r.headers.get('x-dispatcher-idempotent-replay') === 'true');
    expect(replays).toHaveLength(1);
    const check = new pg.Client({ connectionString: db.url });
    await check.connect();
    onCleanup(() => check.end());
    // Both went to this test's own destination: one row there means one stored request.
    const n = await check.query<{ n: string }>('SELECT count(*) AS n FROM dsp_request WHERE origin = $1', [
      dest.url,
    ]);
    expect(Number(n.rows[0]?.n)).toBe(1);
  });

  it('renews the lease of a slow attempt, so no other instance takes the request meanwhile', async () => {
    const dest = await sink();
    // Renewal runs every lease/3; a lease of 1.5 s leaves a loaded machine a second of event-loop stall
    // before a renewal is late (300 ms left only 200 ms, and a busy CI machine stalls that long).
    dest.behave = () => ({ kind: 'delay', ms: 5_000, status: 200 });
    const fast = { postgres: { connectionString: db.url, pollMs: 50, leaseMs: 1_500 } };
    const a = await pgProxy(fast);
    await pgProxy(fast);
    const id = (await send(a, '/slow', to(dest))).json.id as string;
    await eventually(async () => {
      const s = await send(a, `/_dispatcher/messages/${id}`, { method: 'GET' });
      return s.json.status === 'delivered';
    }, 30_000);
    // More than three lease periods passed during the attempt: without renewal the other instance would have sent it too.
    expect(dest.received.filter((r) => r.headers['x-dispatcher-message-id'] === id)).toHaveLength(1);
  });

  it('deletes delivered ids in bulk once past the retention', async () => {
    const dest = await sink();
    const proxy = await pgProxy({
      postgres: { connectionString: db.url, pollMs: 50, deliveredRetentionMs: 1 },
    });
    const id = (await send(proxy, '/r', to(dest))).json.id as string;
    await eventually(async () => {
      const s = await send(proxy, `/_dispatcher/messages/${id}`, { method: 'GET' });
      return s.json.status === 'delivered';
    });
    await eventually(async () => ((await proxy.pg?.sweep()) ?? 0) > 0 || (await gone()));
    expect(await gone()).toBe(true);
    async function gone(): Promise<boolean> {
      return (await send(proxy, `/_dispatcher/messages/${id}`, { method: 'GET' })).status === 404;
    }
  });

  it('stops start-up with a coded error when the schema is newer than the binary', async () => {
    const other = await createTestDatabase();
    onCleanup(() => other.drop());
    const pool = new pg.Pool({ connectionString: other.url });
    await migrate(pool, noopLogger);
    await pool.query("INSERT INTO dsp_schema_version (version, name) VALUES ($1, 'from the future')", [
      SCHEMA_VERSION + 1,
    ]);
    await pool.end();
    const proxy = new HttpProxy({
      dataDir: '/unused',
      host: '127.0.0.1',
      port: 0,
      postgres: { connectionString: other.url },
    });
    await expect(proxy.start()).rejects.toMatchObject({ code: 'DSP_PROXY_SCHEMA_TOO_NEW' });
  });

  it("opens a destination's breaker at its first failure when the threshold is 1", async () => {
    const store = await PgStore.open({
      connectionString: db.url,
      instanceId: 'breaker-test',
      logger: noopLogger,
    });
    onCleanup(() => store.close());
    const limits = {
      concurrency: 1,
      burst: 1,
      failureThreshold: 1,
      cooldownMs: 60_000,
      maxCooldownMs: 600_000,
    };
    // No row for this origin yet: the failure inserts it, and must open it (not leave it probing).
    await store.breakerOutcome('http://first-failure.test:1', false, limits, { opens: 0, probe: false });
    const r = await store.pool.query<{ failures: number; open_ms: number | null; cooldown_ms: number }>(
      `SELECT failures, cooldown_ms, extract(epoch FROM open_until - now()) * 1000 AS open_ms
       FROM dsp_destination WHERE origin = $1`,
      ['http://first-failure.test:1'],
    );
    expect(r.rows[0]).toMatchObject({ failures: 1, cooldown_ms: 60_000 });
    expect(Number(r.rows[0]?.open_ms)).toBeGreaterThan(50_000);
  });

  it('keeps the breaker open on a success of an attempt claimed before it opened; the probe closes it', async () => {
    const store = await PgStore.open({
      connectionString: db.url,
      instanceId: 'late-success',
      logger: noopLogger,
    });
    onCleanup(() => store.close());
    const origin = 'http://late-success.test:1';
    const limits = { concurrency: 5, burst: 1, failureThreshold: 2, cooldownMs: 200, maxCooldownMs: 200 };
    const put = (path: string) => acceptTo(store, origin, path);
    const breaker = async () =>
      (
        await store.pool.query<{ failures: number; open: boolean }>(
          'SELECT failures, open_until IS NOT NULL AS open FROM dsp_destination WHERE origin = $1',
          [origin],
        )
      ).rows[0];
    const succeed = (c: { rowId: string; request: { message: { id: string } } } & BreakerTicket) =>
      store.complete(c.rowId, c.request.message.id, { at: Date.now() }, origin, c);
    // Requests of earlier tests' destinations may still be pending in this database: look at ours only.
    const claimOurs = async () =>
      (await store.claim(5, () => limits)).filter((c) => c.request.target.startsWith(origin));
    await put('/early');
    const [early] = await claimOurs();
    expect(early).toMatchObject({ probe: false, opens: 0 });
    // Two other attempts fail meanwhile: the breaker opens while `early` is still under way.
    for (let i = 0; i < 2; i++) await store.breakerOutcome(origin, false, limits, { opens: 0, probe: false });
    expect(await breaker()).toEqual({ failures: 2, open: true });
    // `early` succeeds: it started before the breaker opened, so the breaker stays open.
    await succeed(early as NonNullable<typeof early>);
    expect(await breaker()).toEqual({ failures: 2, open: true });
    // The same through the 4xx path (a dead letter's answer proves the destination up just as well).
    await store.breakerOutcome(origin, true, limits, early as NonNullable<typeof early>);
    expect(await breaker()).toEqual({ failures: 2, open: true });
    // After the cooldown the next claim is the probe; its success closes the breaker.
    await put('/probe');
    let probe: Awaited<ReturnType<typeof store.claim>>[number] | undefined;
    await eventually(async () => {
      [probe] = await claimOurs();
      return probe !== undefined;
    });
    expect(probe).toMatchObject({ probe: true, opens: 1 });
    await succeed(probe as NonNullable<typeof probe>);
    expect(await breaker()).toEqual({ failures: 0, open: false });
  });

  it('moves the leases of a database with data at schema 2 into their own table (migration 3)', async () => {
    const other = await createTestDatabase();
    onCleanup(() => other.drop());
    const pool = new pg.Pool({ connectionString: other.url });
    pool.on('error', () => {});
    await pool.query(
      'CREATE TABLE dsp_schema_version (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    for (const m of MIGRATIONS.filter((x) => x.version <= 2)) {
      await pool.query(m.sql);
      await pool.query('INSERT INTO dsp_schema_version (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    const origin = 'http://127.0.0.1:9';
    const payload = (id: string) =>
      encodeStoredRequest({
        message: { id, body: Buffer.from(id), headers: {}, attempt: 0, createdAt: Date.now() },
        method: 'POST',
        target: `${origin}/${id}`,
      });
    // Free, leased by a live instance, and leased by one that died (its lease ran out).
    for (const [id, owner, untilSql] of [
      ['free', null, 'NULL'],
      ['held', 'alive', "now() + interval '1 hour'"],
      ['lost', 'dead', "now() - interval '1 second'"],
    ] as const)
      await pool.query(
        `INSERT INTO dsp_request (message_id, origin, payload, due_at, lease_owner, lease_until)
         VALUES ($1, $2, $3, now() - interval '1 second', $4, ${untilSql})`,
        [id, origin, payload(id), owner],
      );
    expect(await migrate(pool, noopLogger)).toEqual([3]);
    const leases = await pool.query(
      'SELECT r.message_id, l.owner FROM dsp_lease l JOIN dsp_request r ON r.id = l.request_id ORDER BY 1',
    );
    expect(leases.rows).toEqual([
      { message_id: 'held', owner: 'alive' },
      { message_id: 'lost', owner: 'dead' },
    ]);
    await pool.end();
    const store = await PgStore.open({ connectionString: other.url, instanceId: 'new', logger: noopLogger });
    onCleanup(() => store.close(false));
    const limits = { concurrency: 10, burst: 10, failureThreshold: 5, cooldownMs: 1000, maxCooldownMs: 1000 };
    const claimed = await store.claim(10, () => limits);
    // The live lease holds; the dead instance's attempt counts, as a crash's does.
    expect(claimed.map((c) => [c.request.message.id, c.attempt?.attempt]).sort()).toEqual([
      ['free', undefined],
      ['lost', 1],
    ]);
    expect((await store.stats()).leased).toBe(3);
    for (const c of claimed) await store.complete(c.rowId, c.request.message.id, {}, origin, c);
    expect(await store.lookup('lost')).toMatchObject({ status: 'delivered' });
    expect(await store.lookup('held')).toMatchObject({ status: 'pending', leased: true });
    const left = await store.pool.query('SELECT owner FROM dsp_lease');
    expect(left.rows).toEqual([{ owner: 'alive' }]);
    // A run-out lease whose request its old owner settled meanwhile goes with the retention sweep.
    await store.pool.query(
      "INSERT INTO dsp_lease (request_id, origin, owner, until) VALUES (999999, $1, 'gone', now() - interval '1 second')",
      [origin],
    );
    await store.sweep();
    expect((await store.pool.query('SELECT owner FROM dsp_lease')).rows).toEqual([{ owner: 'alive' }]);
  });

  it('lets another instance take over a run-out lease, and a late settlement by the old owner still counts once', async () => {
    const open = (instanceId: string) =>
      PgStore.open({ connectionString: db.url, instanceId, logger: noopLogger, leaseMs: 100 });
    const a = await open('takeover-a');
    const b = await open('takeover-b');
    onCleanup(() => a.close(false));
    onCleanup(() => b.close(false));
    const origin = 'http://takeover.test:1';
    const limits = { concurrency: 5, burst: 5, failureThreshold: 5, cooldownMs: 1000, maxCooldownMs: 1000 };
    const claimOurs = async (s: PgStore) =>
      (await s.claim(5, () => limits)).filter((c) => c.request.target.startsWith(origin));
    const put = (path: string) => acceptTo(a, origin, path);
    const leaseRows = async (id: string) =>
      (
        await a.pool.query<{ owner: string }>(
          'SELECT l.owner FROM dsp_lease l JOIN dsp_request r ON r.id = l.request_id WHERE r.message_id = $1',
          [id],
        )
      ).rows.map((r) => r.owner);
    // Settled: nothing is left for another instance.
    const first = await put('/first');
    const [mine] = await claimOurs(a);
    expect(mine?.request.message.id).toBe(first.id);
    await a.complete(mine?.rowId as string, first.id, {}, origin, mine as ClaimedRequest);
    expect(await leaseRows(first.id)).toEqual([]);
    expect(await claimOurs(b)).toEqual([]);
    // A's lease runs out: B takes the request over, counting A's attempt; A's success comes in late.
    const second = await put('/second');
    const [slow] = await claimOurs(a);
    expect(slow?.attempt).toBeUndefined();
    let taken: ClaimedRequest | undefined;
    await eventually(async () => {
      [taken] = await claimOurs(b);
      return taken !== undefined;
    });
    expect(taken?.request.message.id).toBe(second.id);
    expect(taken?.attempt?.attempt).toBe(1);
    expect(await leaseRows(second.id)).toEqual(['takeover-b']);
    await a.complete(slow?.rowId as string, second.id, {}, origin, slow as ClaimedRequest);
    expect(await b.lookup(second.id)).toMatchObject({ status: 'delivered' });
    expect(await leaseRows(second.id)).toEqual([]);
    // B's own success finds nothing left to do and leaves nothing behind.
    await b.complete(taken?.rowId as string, second.id, {}, origin, taken as ClaimedRequest);
    const left = await a.pool.query('SELECT 1 FROM dsp_lease WHERE request_id = ANY($1::bigint[])', [
      [mine?.rowId, slow?.rowId],
    ]);
    expect(left.rows).toEqual([]);
  });

  it('ignores a late failure or dead letter of an instance whose lease was taken over; a claim leases only what is still due', async () => {
    // A's lease runs out at once; B's lasts the whole test (a busy machine must not hand it to C).
    const open = (instanceId: string, leaseMs: number) =>
      PgStore.open({ connectionString: db.url, instanceId, logger: noopLogger, leaseMs });
    const a = await open('late-a', 100);
    const b = await open('late-b', 60_000);
    const c = await open('late-c', 60_000);
    for (const s of [a, b, c]) onCleanup(() => s.close(false));
    const origin = 'http://late.test:1';
    const limits = { concurrency: 5, burst: 5, failureThreshold: 5, cooldownMs: 1000, maxCooldownMs: 1000 };
    const claimOurs = async (s: PgStore) =>
      (await s.claim(5, () => limits)).filter((r) => r.request.target.startsWith(origin));
    const row = async (id: string) =>
      (
        await a.pool.query<{ owner: string | null; attempt: number | null; due_in_ms: number }>(
          `SELECT l.owner, (r.attempt_state->>'attempt')::int AS attempt,
                  (extract(epoch FROM r.due_at - now()) * 1000)::float8 AS due_in_ms
           FROM dsp_request r LEFT JOIN dsp_lease l ON l.request_id = r.id WHERE r.message_id = $1`,
          [id],
        )
      ).rows[0];
    // A claims, its lease runs out, B takes the request over (A's attempt counted as cut short).
    const put = await acceptTo(a, origin, '/late');
    const [slow] = await claimOurs(a);
    let taken: ClaimedRequest | undefined;
    await eventually(async () => {
      [taken] = await claimOurs(b);
      return taken !== undefined;
    });
    expect(taken?.attempt?.attempt).toBe(1);
    // A's failure comes in late, due again at once: B keeps its lease and its count, nobody else claims it.
    const now = Date.now();
    const failed = { attempt: 1, nextAt: now, firstAttemptAt: now, previousDelayMs: 0, lastStatus: 503 };
    await a.recordAttempt(slow?.rowId as string, failed);
    expect(await row(put.id)).toMatchObject({ owner: 'late-b', attempt: 1 });
    expect(await claimOurs(c)).toEqual([]);
    // Nor does A's late dead letter take the request away from B.
    const letter = { reason: 'status-503', attempts: 1, host: 'late.test:1', deadAt: Date.now() };
    await a.deadLetter(slow?.rowId as string, slow?.request as ClaimedRequest['request'], letter);
    expect(await a.readDeadLetter(put.id)).toBeUndefined();
    expect(await row(put.id)).toMatchObject({ owner: 'late-b' });
    // B's own failure, due in a minute, hands the request back to the fleet: then it is not due.
    await b.recordAttempt(taken?.rowId as string, { ...failed, attempt: 2, nextAt: Date.now() + 60_000 });
    const after = await row(put.id);
    expect(after).toMatchObject({ owner: null, attempt: 2 });
    expect(after?.due_in_ms).toBeGreaterThan(50_000);
    // A claim whose read saw the request due before that failure leases it only if it is still due.
    const client = await c.pool.connect();
    try {
      await client.query('BEGIN');
      const write = (await client.query(
        claimWriteSql(
          { picked: [taken?.rowId as string], probes: new Set(), touched: [] },
          'late-c',
          1000,
          new Date().toISOString(),
          (v) => client.escapeLiteral(v),
        ),
      )) as unknown as Array<{ rows: unknown[] }>;
      expect(write[0]?.rows).toEqual([]);
    } finally {
      client.release();
    }
    expect(await row(put.id)).toMatchObject({ owner: null, attempt: 2 });
  });

  it('applies migrations once when several instances start at once', async () => {
    const other = await createTestDatabase();
    onCleanup(() => other.drop());
    const pools = [0, 1, 2, 3].map((): pg.Pool => {
      const pool = new pg.Pool({ connectionString: other.url });
      // A connection still closing when the cleanup drops the database (WITH FORCE) gets 57P01, which the
      // pool re-emits: without a listener that is an uncaught exception in the test run.
      pool.on('error', () => {});
      return pool;
    });
    const applied = await Promise.all(pools.map((p) => migrate(p, noopLogger)));
    expect(applied.flat()).toEqual([...Array(SCHEMA_VERSION).keys()].map((i) => i + 1));
    await Promise.all(pools.map((p) => p.end()));
  });
});
