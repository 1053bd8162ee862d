import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { encode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BeanstalkClient } from '../src/beanstalk/beanstalk-client.js';
import { DEFAULT_MAIN_TUBE } from '../src/job/tube-names.js';
import { type GatewayEnv, startGatewayEnv } from './helpers/gateway-env.js';
import { SubscriberServer } from './helpers/subscriber-server.js';
import { waitFor } from './helpers/wait-for.js';

const CHILD = fileURLToPath(new URL('./helpers/gateway-child.ts', import.meta.url));
const MIN_MESSAGES = 100;
const MAX_MESSAGES = 1_000;
const KILLS = 8;

let env: GatewayEnv;
let sinkA: SubscriberServer;
let sinkB: SubscriberServer;
const children = new Set<ChildProcess>();

function startChild(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: {
      ...process.env,
      GATEWAY_BEANSTALKD: env.addresses.join(','),
      GATEWAY_REDIS: env.redisService.url,
      GATEWAY_TTR_SEC: '2',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`gateway child exited early (${code})`)));
  });
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function jobsLeft(): Promise<{ ready: number; reserved: number; delayed: number; buried: number }> {
  const left = { ready: 0, reserved: 0, delayed: 0, buried: 0 };
  for (const c of env.pool.clients)
    for (const tube of await c.listTubes()) {
      const s = await c.statsTube(tube);
      left.ready += Number(s?.['current-jobs-ready'] ?? 0);
      left.reserved += Number(s?.['current-jobs-reserved'] ?? 0);
      left.delayed += Number(s?.['current-jobs-delayed'] ?? 0);
      left.buried += Number(s?.['current-jobs-buried'] ?? 0);
    }
  return left;
}

beforeAll(async () => {
  env = await startGatewayEnv(2);
  sinkA = await SubscriberServer.start();
  sinkB = await SubscriberServer.start();
  await env.source.create({
    topic: 'crash',
    subscriberId: 1,
    receptionChannel: sinkA.url,
    params: { concurrency: 4 },
  });
  await env.source.create({
    topic: 'crash',
    subscriberId: 2,
    receptionChannel: sinkB.url,
    params: { concurrency: 4 },
  });
});

afterAll(async () => {
  await Promise.all([...children].map(kill));
  await sinkA?.close();
  await sinkB?.close();
  await env?.close();
});

describe('crash test: two gateways, SIGKILL under load', () => {
  it('delivers every message to every subscription at least once and leaves nothing behind', async () => {
    const started = Date.now();
    const gateways: Promise<ChildProcess>[] = [startChild(), startChild()];
    await Promise.all(gateways);
    const producers = env.beanstalkds.map((b) => new BeanstalkClient({ port: b.port }));
    let produced = 0;
    let stop = false;
    // Messages keep arriving until every kill has landed (at least MIN_MESSAGES, at most MAX_MESSAGES).
    const producing = (async () => {
      while (produced < MAX_MESSAGES && (!stop || produced < MIN_MESSAGES)) {
        const p = producers[produced % producers.length] as BeanstalkClient;
        await p.put(encode({ msgKey: 'crash', body: { n: produced }, time: 1700000000 + produced }), {
          tube: DEFAULT_MAIN_TUBE,
          ttrSec: 2,
        });
        produced += 1;
        // About 20 messages a second.
        if (produced % 4 === 0) await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const pushes = () => sinkA.received.length + sinkB.received.length;
    let kills = 0;
    for (let k = 0; k < KILLS; k++) {
      const slot = k % 2;
      // The victim must be up (its restart overlaps the other gateway's work) and pushes must be flowing:
      // a few more pushes since the last kill, so the kill lands with work in flight.
      const victim = await (gateways[slot] as Promise<ChildProcess>);
      const seen = pushes();
      await waitFor('pushes between kills', () => pushes() >= seen + 6, 30_000);
      await kill(victim);
      kills += 1;
      gateways[slot] = startChild();
    }
    stop = true;
    await producing;
    await Promise.all(gateways);
    await Promise.all(producers.map((p) => p.close()));

    const distinct = (s: SubscriberServer) =>
      new Set(s.received.map((r) => JSON.parse(r.form.get('message') ?? '{}').n)).size;
    await waitFor(
      'every message at both subscriptions',
      () => distinct(sinkA) === produced && distinct(sinkB) === produced,
      60_000,
    );
    await waitFor(
      'all tubes drained',
      async () => {
        const left = await jobsLeft();
        return left.ready + left.reserved + left.delayed + left.buried === 0;
      },
      30_000,
    );
    const left = await jobsLeft();
    expect(left.buried).toBe(0);
    const dupA = sinkA.received.length - distinct(sinkA);
    const dupB = sinkB.received.length - distinct(sinkB);
    process.stdout.write(
      `crash test: ${produced} messages x 2 subscriptions, ${kills} SIGKILLs in ${((Date.now() - started) / 1000).toFixed(1)} s; pushes A=${sinkA.received.length} B=${sinkB.received.length}; duplicates A=${dupA} B=${dupB}\n`,
    );
    expect(distinct(sinkA)).toBe(produced);
    expect(distinct(sinkB)).toBe(produced);
    expect(kills).toBe(KILLS);
  }, 110_000);
});
