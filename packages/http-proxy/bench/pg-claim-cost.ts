/**
 * What claiming and completing cost on the PostgreSQL store, without HTTP or ingest (`tsx
 * bench/pg-claim-cost.ts [requests]`): fills a fresh database with due requests to one destination, then
 * drains them as the engine does (claim up to `WORKER` = 64, each completion queued at once without waiting
 * for it), and prints per delivery: round trips to the database, CPU of this process and of its database
 * backends (from /proc, so other load on the machine hardly changes them), and claim rounds. BENCH_PG
 * overrides the admin URL (default postgres://postgres@127.0.0.1:5432/test).
 */
import { readFileSync } from 'node:fs';
import { noopLogger } from '@dispatcher/core';
import pg from 'pg';
import { PgStore } from '../src/store/pg/pg-store.js';

const N = Number(process.argv[2] ?? 20_000);
const WORKERS = 64;
const adminUrl = process.env.BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const dbName = `dispatcher_claim_cost_${process.pid}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const url = new URL(adminUrl);
url.pathname = `/${dbName}`;

const cpu = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
};
let roundTrips = 0;
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  roundTrips++;
  return (query as (...a: unknown[]) => unknown).apply(this, args);
} as typeof query;

try {
  const store = await PgStore.open({ connectionString: url.href, instanceId: 'cost', logger: noopLogger });
  const origin = 'http://127.0.0.1:9';
  const body = Buffer.alloc(1024, 'x');
  const now = Date.now();
  const accepted: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++)
    accepted.push(
      store.accept(
        (id) => ({
          message: { id, body, headers: {}, attempt: 0, createdAt: now },
          method: 'POST',
          target: `${origin}/x`,
        }),
        now,
      ),
    );
  await Promise.all(accepted);
  const limits = {
    concurrency: WORKERS,
    burst: 1,
    failureThreshold: 5,
    cooldownMs: 5_000,
    maxCooldownMs: 300_000,
  };
  const backends = async () =>
    (
      await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [dbName])
    ).rows.map((r) => r.pid);
  // Warm the pool's connections first, so their start-up is not counted.
  await Promise.all(Array.from({ length: 4 }, () => store.pool.query('SELECT 1')));
  const pids = await backends();
  const db0 = pids.reduce((a, p) => a + cpu(p), 0);
  const me0 = process.cpuUsage();
  const rt0 = roundTrips;
  const t0 = performance.now();
  let done = 0;
  let rounds = 0;
  const completions: Promise<void>[] = [];
  while (done < N) {
    const claimed = await store.claim(WORKERS, () => limits);
    rounds++;
    for (const c of claimed) {
      done++;
      completions.push(store.complete(c.rowId, c.request.message.id, { at: Date.now() }, origin, c));
    }
    if (claimed.length === 0) await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(completions);
  const wall = (performance.now() - t0) / 1000;
  const me = process.cpuUsage(me0);
  const allPids = new Set([...pids, ...(await backends())]);
  let db = -db0;
  for (const p of allPids) {
    try {
      db += cpu(p);
    } catch {
      // ended
    }
  }
  await store.close();
  const per = (x: number) => ((x / N) * 1e6).toFixed(0);
  console.log(
    `pg claim cost: ${N} deliveries in ${wall.toFixed(2)} s (${Math.round(N / wall)}/s, load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}): ` +
      `${((roundTrips - rt0) / N).toFixed(3)} round trips, ${per((me.user + me.system) / 1e6)} µs node CPU, ` +
      `${per(db)} µs database CPU per delivery; ${rounds} claim rounds (${(N / rounds).toFixed(1)} per round)`,
  );
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
}
