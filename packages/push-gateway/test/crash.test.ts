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
const MESSAGES = 300;
const KILLS = 6;

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
  // B answers slowly so that kills land mid-push too.
  sinkB.answer = () => ({ status: 200, body: '{"status":1}' });
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
    const gateways = [await startChild(), await startChild()];
    const producers = env.beanstalkds.map((b) => new BeanstalkClient({ port: b.port }));
    let produced = 0;
    const producing = (async () => {
      while (produced < MESSAGES) {
        const p = producers[produced % producers.length] as BeanstalkClient;
        await p.put(encode({ msgKey: 'crash', body: { n: produced }, time: 1700000000 + produced }), {
          tube: DEFAULT_MAIN_TUBE,
          ttrSec: 2,
        });
        produced += 1;
        // About 10 messages a second, so the kills land while messages keep arriving.
        if (produced % 4 === 0) await new Promise((r) => setTimeout(r, 400));
      }
    })();
    let done = false;
    void producing.finally(() => {
      done = true;
    });
    let kills = 0;
    for (let k = 0; k < KILLS && !done; k++) {
      // Kill when there is work in flight: after a few more pushes have arrived.
      const seen = sinkA.received.length + sinkB.received.length;
      await waitFor(
        'pushes between kills',
        () => done || sinkA.received.length + sinkB.received.length >= seen + 6,
        60_000,
      );
      const victim = gateways[k % 2] as ChildProcess;
      await kill(victim);
      kills += 1;
      gateways[k % 2] = await startChild();
    }
    await producing;
    await Promise.all(producers.map((p) => p.close()));

    const distinct = (s: SubscriberServer) =>
      new Set(s.received.map((r) => JSON.parse(r.form.get('message') ?? '{}').n)).size;
    await waitFor(
      'every message at both subscriptions',
      () => distinct(sinkA) === MESSAGES && distinct(sinkB) === MESSAGES,
      120_000,
    );
    await waitFor(
      'all tubes drained',
      async () => {
        const left = await jobsLeft();
        return left.ready + left.reserved + left.delayed + left.buried === 0;
      },
      60_000,
    );
    const left = await jobsLeft();
    expect(left.buried).toBe(0);
    const dupA = sinkA.received.length - distinct(sinkA);
    const dupB = sinkB.received.length - distinct(sinkB);
    process.stdout.write(
      `crash test: ${MESSAGES} messages x 2 subscriptions, ${kills} SIGKILLs; pushes A=${sinkA.received.length} B=${sinkB.received.length}; duplicates A=${dupA} B=${dupB}\n`,
    );
    expect(distinct(sinkA)).toBe(MESSAGES);
    expect(distinct(sinkB)).toBe(MESSAGES);
    expect(kills).toBeGreaterThanOrEqual(2);
  }, 300_000);
});
