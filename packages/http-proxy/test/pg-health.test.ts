/**
 * Fleet-mode health: `/_dispatcher/health` shows the fleet's backlog from the database (as the embedded
 * store shows its log), this instance's pool, and still answers while the database is away.
 */
import { describe, expect, it } from 'vitest';
import type { HttpProxy } from '../src/http-proxy.js';
import { databaseForFile } from './helpers/pg-database.js';
import { relay } from './helpers/pg-relay.js';
import { eventually, send, sink, startPgProxy, to } from './helpers/start-proxy.js';

const db = databaseForFile();

interface Health {
  status: string;
  store?: string;
  backlog: number;
  inflight: number;
  deadLetters?: number;
  database?: string;
  fleet?: {
    pending: number;
    leased: number;
    leasedHere: number;
    due: number;
    oldestPendingMs: number;
    deadLetters: number;
    openBreakers: number;
  };
  pool?: { max: number; total: number; idle: number; waiting: number };
}

const health = async (proxy: HttpProxy): Promise<{ status: number; json: Health }> => {
  const r = await send(proxy, '/_dispatcher/health', { method: 'GET' });
  return { status: r.status, json: r.json as unknown as Health };
};

describe('fleet-mode health', () => {
  it("shows the fleet's pending, leased and due requests, the oldest one's age, dead letters, open breakers and the pool", async () => {
    const hanging = await sink();
    hanging.behave = () => ({ kind: 'hang' });
    const gone = await sink();
    gone.behave = () => ({ kind: 'status', status: 404 });
    const failing = await sink();
    failing.behave = () => ({ kind: 'status', status: 503 });
    const options = {
      destinations: [
        // Two attempts at a time to the hanging receiver, never timed out: the third request waits, due
        // and not leased.
        { match: hanging.host, concurrency: 2, timeoutMs: 600_000 },
        // One failure opens the failing receiver's breaker, for longer than the test.
        { match: failing.host, failureThreshold: 1, cooldownMs: 300_000 },
      ],
      retryLimit: 100,
    };
    const a = await startPgProxy(db.url, options, { poolMax: 4 });
    const b = await startPgProxy(db.url, options, { poolMax: 4 });

    const empty = await health(b);
    expect(empty.status).toBe(200);
    expect(empty.json).toMatchObject({
      status: 'ok',
      store: 'postgres',
      deadLetters: 0,
      fleet: { pending: 0, leased: 0, leasedHere: 0, due: 0, oldestPendingMs: 0, openBreakers: 0 },
      pool: { max: 4 },
    });
    expect(empty.json.pool?.total).toBeGreaterThanOrEqual(1);

    for (let i = 0; i < 3; i++) expect((await send(a, `/h${i}`, to(hanging))).status).toBe(202);
    expect((await send(a, '/gone', to(gone))).status).toBe(202);
    expect((await send(a, '/failing', to(failing))).status).toBe(202);
    await hanging.waitFor(2);
    await failing.waitFor(1);

    // Asked of instance b: the figures are the fleet's, not b's own engine's.
    let seen: Health | undefined;
    await eventually(async () => {
      seen = (await health(b)).json;
      return (
        seen.fleet?.pending === 4 &&
        seen.fleet.leased === 2 &&
        seen.fleet.deadLetters === 1 &&
        seen.fleet.openBreakers === 1
      );
    }, 20_000).catch(() => {
      throw new Error(`health never showed the fleet's state: ${JSON.stringify(seen)}`);
    });
    // Pending: three to the hanging receiver and the failing one (waiting for its breaker); due and not
    // leased: the third hanging request (concurrency 2) and the failing one once its retry is due.
    expect(seen?.fleet?.due).toBeGreaterThanOrEqual(1);
    expect(seen?.fleet?.due).toBeLessThanOrEqual(2);
    expect(seen?.deadLetters).toBe(1);
    const fromA = (await health(a)).json;
    expect((fromA.fleet?.leasedHere ?? 0) + (seen?.fleet?.leasedHere ?? 0)).toBe(2);
    // The oldest pending request keeps ageing while it waits.
    const age = seen?.fleet?.oldestPendingMs ?? 0;
    expect(age).toBeGreaterThan(0);
    await eventually(async () => ((await health(b)).json.fleet?.oldestPendingMs ?? 0) > age + 500, 20_000);
  });

  it('answers while the database is unreachable, saying so, with the pool figures', async () => {
    const link = await relay();
    const proxy = await startPgProxy(link.url(db.url), {}, { connectTimeoutMs: 300 });
    expect((await health(proxy)).json.fleet).toBeDefined();
    await link.cut();
    let down: { status: number; json: Health } | undefined;
    await eventually(async () => {
      down = await health(proxy);
      return down.json.database !== undefined;
    }, 20_000);
    expect(down?.status).toBe(200);
    expect(down?.json).toMatchObject({ status: 'ok', store: 'postgres', pool: { max: 10 } });
    expect(down?.json.database).toMatch(/^unavailable: /);
    expect(down?.json.fleet).toBeUndefined();
    await link.restore();
    await eventually(async () => (await health(proxy)).json.fleet !== undefined, 20_000);
  });
});
