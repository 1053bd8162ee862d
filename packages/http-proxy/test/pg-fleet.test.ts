/**
 * Fleet mode: several proxy processes on one PostgreSQL database, real local receivers. Limits hold across
 * the fleet; a SIGKILLed instance's requests are delivered by the others; a database outage is a 503 at
 * ingest and passes by itself.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HttpProxy } from '../src/http-proxy.js';
import {
  type FleetInstance,
  postVia,
  spawnInstance as spawnFleetInstance,
} from './helpers/fleet-instance.js';
import { databaseForFile } from './helpers/pg-database.js';
import { relay } from './helpers/pg-relay.js';
import { eventually, onCleanup, sleep } from './helpers/start-proxy.js';

const KILLS = Number(process.env.DISPATCHER_PROXY_FLEET_KILLS ?? 4);

const db = databaseForFile();

type Instance = FleetInstance;
const spawnInstance = (options: object = {}) => spawnFleetInstance(db.url, options);

/** A receiver that answers after `delayMs` and records what it saw, including how many at once. */
async function receiver(delayMs: number): Promise<{
  url: string;
  ids: string[];
  at: number[];
  maxConcurrent: () => number;
  server: Server;
}> {
  const ids: string[] = [];
  const at: number[] = [];
  let now = 0;
  let max = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      now++;
      max = Math.max(max, now);
      at.push(Date.now());
      setTimeout(() => {
        now--;
        ids.push(String(req.headers['x-dispatcher-message-id']));
        res.writeHead(200).end();
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, ids, at, maxConcurrent: () => max, server };
}

/** POSTs `body` through the instance at `base` to `dest`. */
const post = (base: string, dest: string, body: string, headers: Record<string, string> = {}) =>
  postVia(base, dest, '/fleet', body, headers);

describe('fleet of three instances on one PostgreSQL database', () => {
  it('never has more than the concurrency limit in flight to one destination across the fleet', async () => {
    const recv = await receiver(40);
    const rule = { destinations: [{ match: '127.0.0.1', concurrency: 4 }] };
    const fleet = await Promise.all([spawnInstance(rule), spawnInstance(rule), spawnInstance(rule)]);
    const N = 150;
    const accepted: string[] = [];
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const r = await post((fleet[i % 3] as Instance).url, recv.url, `m${i}`);
        expect(r.status).toBe(202);
        accepted.push(r.json.id as string);
      }),
    );
    await eventually(() => new Set(recv.ids).size >= N, 60_000);
    expect(new Set(recv.ids)).toEqual(new Set(accepted));
    expect(recv.maxConcurrent()).toBeLessThanOrEqual(4);
    // The limit was reached, so the test can see it being passed.
    expect(recv.maxConcurrent()).toBeGreaterThanOrEqual(2);
  });

  it('holds a rate limit across the fleet', async () => {
    const recv = await receiver(0);
    const rate = 20;
    const rule = { destinations: [{ match: '127.0.0.1', ratePerSec: rate, burst: 2 }] };
    const fleet = await Promise.all([spawnInstance(rule), spawnInstance(rule), spawnInstance(rule)]);
    const N = 60;
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        expect((await post((fleet[i % 3] as Instance).url, recv.url, `r${i}`)).status).toBe(202);
      }),
    );
    await eventually(() => recv.ids.length >= N, 60_000);
    const at = [...recv.at].sort((a, b) => a - b);
    // Any one-second window holds at most rate + burst deliveries, plus jitter: tokens are spent at claim
    // time but counted here on arrival, so deliveries an instance held up (a new connection, a busy core)
    // land among later ones (10 idle runs gave 22–25: no margin at rate + burst + 3). Three independent
    // limiters would let all 60 through in under a second, and the span check below fails them too.
    let worst = 0;
    for (let i = 0; i < at.length; i++) {
      let j = i;
      while (j < at.length && (at[j] as number) - (at[i] as number) < 1000) j++;
      worst = Math.max(worst, j - i);
    }
    expect(worst).toBeLessThanOrEqual(rate + 2 + 10);
    expect((at.at(-1) as number) - (at[0] as number)).toBeGreaterThanOrEqual(((N - 2) / rate) * 1000 * 0.8);
  });

  it(`delivers every 202'd request at least once while instances are SIGKILLed (${KILLS} kills)`, async () => {
    const recv = await receiver(5);
    const opts = { leaseMs: 1500 };
    const fleet: Instance[] = await Promise.all([
      spawnInstance(opts),
      spawnInstance(opts),
      spawnInstance(opts),
    ]);
    const accepted = new Set<string>();
    let stop = false;
    let sent = 0;
    // Four clients, each sending one request after another, round robin over the fleet.
    const load = Promise.all(
      [0, 1, 2, 3].map(async () => {
        while (!stop) {
          const target = fleet[sent % fleet.length] as Instance;
          sent++;
          try {
            const r = await post(target.url, recv.url, `k${sent}`);
            if (r.status === 202) accepted.add(r.json.id as string);
          } catch {
            // The instance died under this request: nothing was promised.
          }
        }
      }),
    );
    for (let k = 0; k < KILLS; k++) {
      await eventually(() => accepted.size >= (k + 1) * 40, 30_000);
      const victim = k % fleet.length;
      const dying = fleet[victim] as Instance;
      dying.proc.kill('SIGKILL');
      await dying.exited;
      fleet[victim] = await spawnInstance(opts);
    }
    stop = true;
    await load;
    await eventually(() => {
      const got = new Set(recv.ids);
      return [...accepted].every((id) => got.has(id));
    }, 90_000);
    const seen = new Map<string, number>();
    for (const id of recv.ids) seen.set(id, (seen.get(id) ?? 0) + 1);
    const duplicates = [...seen.values()].filter((n) => n > 1).length;
    console.log(
      `fleet SIGKILL: ${accepted.size} accepted, ${recv.ids.length} deliveries, ${duplicates} delivered more than once, ${KILLS} kills`,
    );
    expect([...accepted].filter((id) => !seen.has(id))).toEqual([]);
  }, 600_000);
});

describe('database outage', () => {
  it('answers 503 with Retry-After at ingest and readiness, loses nothing, and recovers without a restart', async () => {
    const recv = await receiver(0);
    const link = await relay();
    const proxy = new HttpProxy({
      dataDir: '/unused',
      host: '127.0.0.1',
      port: 0,
      allowedDestinations: ['127.0.0.1'],
      shutdownTimeoutMs: 500,
      postgres: { connectionString: link.url(db.url), pollMs: 50, connectTimeoutMs: 500 },
    });
    await proxy.start();
    onCleanup(() => proxy.close());
    const before = await post(proxy.url, recv.url, 'before');
    expect(before.status).toBe(202);
    await eventually(() => recv.ids.includes(before.json.id as string), 20_000);

    await link.cut();
    let refused: Awaited<ReturnType<typeof post>> | undefined;
    await eventually(async () => {
      refused = await post(proxy.url, recv.url, 'during');
      return refused.status === 503;
    }, 20_000);
    expect(refused?.headers.get('retry-after')).toMatch(/^\d+$/);
    const ready = await fetch(`${proxy.url}/_dispatcher/ready`);
    expect(ready.status).toBe(503);

    await link.restore();
    const accepted: string[] = [];
    await eventually(async () => {
      const r = await post(proxy.url, recv.url, 'after');
      if (r.status === 202) accepted.push(r.json.id as string);
      return r.status === 202;
    }, 30_000);
    for (let i = 0; i < 20; i++) {
      const r = await post(proxy.url, recv.url, `after${i}`);
      expect(r.status).toBe(202);
      accepted.push(r.json.id as string);
    }
    await eventually(async () => (await fetch(`${proxy.url}/_dispatcher/ready`)).status === 200, 20_000);
    await eventually(() => accepted.every((id) => recv.ids.includes(id)), 30_000);
    void sleep;
  });
});
