/**
 * Fleet mode under SIGKILL: the counterparts of crash.test.ts and recovery.test.ts for proxy processes on
 * one PostgreSQL database. A killed instance's leases run out and another instance (or the restarted one)
 * takes its work; attempts in flight at the kill are counted, as the embedded store counts them.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { postVia, spawnInstance } from './helpers/fleet-instance.js';
import {
  expectAllDelivered,
  expectAttemptNumbersAcrossKill,
  killUnderLoad,
  recordDeliveries,
} from './helpers/kill-loop.js';
import { databaseForFile } from './helpers/pg-database.js';
import { Sink } from './helpers/sink.js';
import { eventually, onCleanup, sink } from './helpers/start-proxy.js';

const KILLS = Number(process.env.DISPATCHER_PROXY_CRASH_KILLS ?? 4);
const LEASE_MS = 1000;
// Hanging attempts stay in flight however slow the machine is (no attempt timeout gets in between).
const HANG = { leaseMs: LEASE_MS, destinations: [{ match: '127.0.0.1', timeoutMs: 600_000 }] };

const db = databaseForFile();
let client: pg.Client;
afterAll(async () => {
  await client?.end();
});

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  if (!client) {
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  }
  return (await client.query<T>(sql, params)).rows;
}

const pendingRows = async () =>
  Number((await query<{ n: string }>('SELECT count(*) AS n FROM dsp_request'))[0]?.n);

describe('one instance killed and restarted on the same database', () => {
  it(`delivers every 202'd request (2xx) across ${KILLS} kills under load, with failures in between`, async () => {
    const dest = await new Sink().start();
    onCleanup(() => dest.close());
    const deliveries = recordDeliveries(dest);
    const { accepted } = await killUnderLoad(
      KILLS,
      () => spawnInstance(db.url, { leaseMs: LEASE_MS }),
      dest.url,
    );
    await expectAllDelivered('fleet crash test (postgres)', KILLS, accepted, deliveries, 90_000);
    // Nothing is left in the database, so nothing can be sent again.
    await eventually(async () => (await pendingRows()) === 0, 30_000);
  }, 300_000);

  it('numbers the first attempt after a restart one above the attempt in flight at the kill', async () => {
    const dest = await sink();
    await expectAttemptNumbersAcrossKill(dest, () => spawnInstance(db.url, HANG), 30_000);
    await eventually(async () => (await pendingRows()) === 0, 30_000);
  }, 120_000);
});

describe('two instances, one killed', () => {
  it("leaves a live instance's leases alone, and takes a killed instance's work once its leases run out", async () => {
    const dest = await sink();
    let hang = true;
    dest.behave = () => (hang ? { kind: 'hang' } : { kind: 'status', status: 200 });
    const a = await spawnInstance(db.url, HANG);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await postVia(a.url, dest.url, `/l${i}`, `l${i}`);
      expect(r.status).toBe(202);
      ids.push(r.json.id as string);
    }
    await dest.waitFor(3); // all three in flight at a, leased by a
    const leases = () =>
      query<{ owner: string; until: number }>(
        `SELECT l.owner, extract(epoch FROM l.until) * 1000 AS until FROM dsp_request r
         JOIN dsp_lease l ON l.request_id = r.id WHERE r.message_id = ANY($1::text[])`,
        [ids],
      );
    const owners = new Set((await leases()).map((l) => l.owner));
    expect(owners.size).toBe(1);
    const b = await spawnInstance(db.url, HANG);
    const bStarted = Date.now();
    // a renews its leases while its attempts last: twice past a lease's length, b has taken nothing.
    await eventually(async () => {
      const ls = await leases();
      return ls.length === 3 && ls.every((l) => Number(l.until) > bStarted + 2 * LEASE_MS);
    }, 30_000);
    expect(dest.received).toHaveLength(3);
    expect(new Set((await leases()).map((l) => l.owner))).toEqual(owners);

    await a.kill();
    const leaseEnd = Math.max(...(await leases()).map((l) => Number(l.until)));
    hang = false;
    await dest.waitFor(6, 30_000);
    const again = dest.received.slice(3);
    expect(new Set(again.map((r) => r.headers['x-dispatcher-message-id']))).toEqual(new Set(ids));
    // Not before a's leases ran out (30 ms for the two clocks and timer rounding)...
    for (const r of again) expect(r.at).toBeGreaterThanOrEqual(leaseEnd - 30);
    // ...and the attempts a's death cut short are counted.
    expect(again.map((r) => r.headers['x-dispatcher-attempt'])).toEqual(['2', '2', '2']);
    await eventually(async () => (await leases()).length === 0, 30_000);
    expect(b.proc.exitCode).toBeNull();
  }, 120_000);
});
