/**
 * Fleet mode: the circuit breaker of a destination is one state in the database. Three proxy processes on
 * one PostgreSQL database, a real failing receiver. Each instance signs with its own secret, so the
 * receiver knows which instance sent each attempt.
 */
import { randomBytes } from 'node:crypto';
import { verifyWebhook } from '@dispatcher/core/http';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { HttpProxy } from '../src/http-proxy.js';
import { type FleetInstance, postVia, spawnInstance } from './helpers/fleet-instance.js';
import { databaseForFile } from './helpers/pg-database.js';
import type { Received } from './helpers/sink.js';
import { eventually, onCleanup, send, sink, startPgProxy, to } from './helpers/start-proxy.js';

const db = databaseForFile();

/** The breaker row of the destination, as the instances see it (times in epoch ms). */
async function breakerRow(
  client: pg.Client,
  origin?: string,
): Promise<{ failures: number; openUntil: number | undefined } | undefined> {
  const r = await client.query<{ failures: number; until: number | null }>(
    `SELECT failures, extract(epoch FROM open_until) * 1000 AS until FROM dsp_destination
     WHERE $1::text IS NULL OR origin = $1`,
    [origin ?? null],
  );
  const row = r.rows[0];
  return row
    ? { failures: row.failures, openUntil: row.until === null ? undefined : Number(row.until) }
    : undefined;
}

describe('fleet-wide circuit breaker', () => {
  it('opens for every instance once it opens, lets one probe through per cool-down, and closes fleet-wide', async () => {
    const threshold = 3;
    const cooldownMs = 1500;
    // Slack for comparing the database's clock with the receiver's (same machine) and timer rounding.
    const slackMs = 30;
    const secrets = [0, 1, 2].map(() => `whsec_${randomBytes(24).toString('base64')}`);
    const sender = (r: Received) =>
      secrets.findIndex((s) => verifyWebhook(s, r.headers, r.body, { toleranceSec: 600 }).ok);
    const dest = await sink();
    let failing = true;
    dest.behave = () => ({ kind: 'status', status: failing ? 503 : 200 });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    onCleanup(() => client.end());

    const common = {
      failureThreshold: threshold,
      cooldownMs,
      retryLimit: 1000,
      // One attempt at a time fleet-wide: the receiver's count of failures is exact.
      destinations: [{ match: '127.0.0.1', concurrency: 1 }],
    };
    const fleet: FleetInstance[] = await Promise.all(
      secrets.map((signingSecret) => spawnInstance(db.url, { ...common, signingSecret })),
    );
    const N = 9;
    const ids = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const r = await postVia((fleet[i % 3] as FleetInstance).url, dest.url, `/b${i}`, `b${i}`);
        expect(r.status).toBe(202);
        return r.json.id as string;
      }),
    );

    // Open: `threshold` failures in a row, from whichever instances claimed them.
    let open = await eventually(async () => {
      const row = await breakerRow(client);
      return row !== undefined && row.failures >= threshold && row.openUntil !== undefined;
    }, 30_000).then(() => breakerRow(client));
    const firstOpenUntil = open?.openUntil as number;

    // The first probe comes after the cool-down, and it is the only attempt in the meantime.
    await dest.waitFor(threshold + 1, 30_000);
    const probe1 = dest.received[threshold] as Received;
    expect(dest.received.filter((r) => r.at < firstOpenUntil - slackMs)).toHaveLength(threshold);
    expect(probe1.at).toBeGreaterThanOrEqual(firstOpenUntil - slackMs);

    // It fails: open again, for twice as long, fleet-wide.
    await eventually(async () => {
      const row = await breakerRow(client);
      return (
        row !== undefined && row.failures >= threshold + 1 && (row.openUntil ?? 0) > probe1.at + cooldownMs
      );
    }, 30_000);
    open = await breakerRow(client);
    const secondOpenUntil = open?.openUntil as number;
    expect(secondOpenUntil - probe1.at).toBeGreaterThanOrEqual(2 * cooldownMs - slackMs);

    // The destination recovers; the next probe (after the longer cool-down) closes the breaker for all.
    failing = false;
    await dest.waitFor(threshold + 2, 30_000);
    const probe2 = dest.received[threshold + 1] as Received;
    expect(probe2.at).toBeGreaterThanOrEqual(secondOpenUntil - slackMs);
    await eventually(() => {
      const ok = new Set(
        dest.received.filter((r) => r.at >= probe2.at).map((r) => r.headers['x-dispatcher-message-id']),
      );
      return ids.every((id) => ok.has(id));
    }, 60_000);
    expect(await breakerRow(client)).toMatchObject({ failures: 0, openUntil: undefined });

    const senders = dest.received.map(sender);
    console.log(
      `fleet breaker: ${dest.received.length} attempts; senders in order ${senders.join('')}; ` +
        `open ${firstOpenUntil - (dest.received[threshold - 1] as Received).at} ms after failure ${threshold}`,
    );
    expect(senders.every((s) => s >= 0)).toBe(true);
    // Which instance wins each claim is up to the database (CI once saw one instance send all 13), so this
    // test does not require several senders; the pauses are checked against the fleet's breaker row above,
    // and the next test shows an instance honouring state it did not produce itself.
  }, 180_000);

  it("an instance whose own breaker is open claims none of the destination's requests; the others deliver them", async () => {
    const secrets = [0, 1].map(() => `whsec_${randomBytes(24).toString('base64')}`);
    const fromA = (r: Received) =>
      verifyWebhook(secrets[0] as string, r.headers, r.body, { toleranceSec: 600 }).ok;
    const dest = await sink();
    // A's attempts fail; B's first one waits for the test, the rest succeed.
    let bAnswered = 0;
    dest.behave = (r) => {
      if (fromA(r)) return { kind: 'status', status: 503 };
      return bAnswered++ === 0 ? { kind: 'hang' } : { kind: 'status', status: 200 };
    };
    const start = (signingSecret: string, workers: number): Promise<HttpProxy> =>
      startPgProxy(db.url, {
        retryLimit: 100,
        signingSecret,
        workers,
        // A's breaker stays open for the whole test once it opens.
        destinations: [{ match: dest.host, concurrency: 5, failureThreshold: 1, cooldownMs: 300_000 }],
      });
    // B alone first, with room for one attempt: it takes the first request and holds it (hanging).
    const b = await start(secrets[1] as string, 1);
    const r1 = await send(b, '/r1', to(dest));
    expect(r1.status).toBe(202);
    await dest.waitFor(1);
    // A gets the second request (B has no room) and fails it: A's breaker opens, and the fleet's.
    const a = await start(secrets[0] as string, 10);
    expect((await send(a, '/r2', to(dest))).status).toBe(202);
    await dest.waitFor(2);
    expect(fromA(dest.received[1] as Received)).toBe(true);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    onCleanup(() => client.end());
    await eventually(async () => (await breakerRow(client, dest.url))?.openUntil !== undefined, 20_000);
    // B's attempt succeeds, but it started before the breaker opened: the fleet's breaker stays open.
    dest.release(200);
    await eventually(async () => (await b.pg?.lookup(r1.json.id as string))?.status === 'delivered', 20_000);
    expect((await breakerRow(client, dest.url))?.failures).toBe(1);
    // The fleet's cooldown ends (as if its 300 s had passed); A's own breaker stays open, so B takes the
    // probe (r2 again), whose success closes the fleet's breaker.
    await client.query('UPDATE dsp_destination SET open_until = now() WHERE origin = $1', [dest.url]);
    await eventually(async () => (await breakerRow(client, dest.url))?.failures === 0, 20_000);
    expect(dest.received.slice(2).filter(fromA)).toHaveLength(0);
    for (let i = 3; i <= 8; i++) expect((await send(a, `/r${i}`, to(dest))).status).toBe(202);
    // Every request is delivered, by B: A would otherwise sit on what it claims, renewing the leases.
    await eventually(async () => (await a.pg?.backlog()) === 0, 20_000).catch(async () => {
      const r = await client.query(
        'SELECT id, owner, due_at, attempt_state FROM dsp_request LEFT JOIN dsp_lease ON request_id = id',
      );
      throw new Error(`requests not delivered: ${JSON.stringify(r.rows)}`);
    });
    expect(dest.received.slice(2).filter(fromA)).toHaveLength(0);
  }, 60_000);
});
