// One sender worker per subscription and server keeps up to `concurrency` pushes in flight over one reserve
// connection: it fills its window while pushes hang, never takes more, and keeps serving the tube.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BeanstalkClient } from '../src/beanstalk/beanstalk-client.js';
import { encodeJob } from '../src/job/job-codec.js';
import { JOB_MESSAGE_DEFAULTS } from '../src/job/job-message.js';
import { channelTube } from '../src/job/tube-names.js';
import { type GatewayEnv, startGatewayEnv } from './helpers/gateway-env.js';
import { SubscriberServer } from './helpers/subscriber-server.js';
import { waitFor } from './helpers/wait-for.js';

let env: GatewayEnv;
let sink: SubscriberServer;
let producer: BeanstalkClient;

beforeAll(async () => {
  env = await startGatewayEnv(1);
  sink = await SubscriberServer.start();
  producer = new BeanstalkClient({ port: env.beanstalkds[0]?.port });
});
afterAll(async () => {
  await producer?.close();
  await sink?.close();
  await env?.close();
});

function job(topic: string, n: number): Uint8Array {
  return encodeJob({ ...JOB_MESSAGE_DEFAULTS, msgKey: topic, body: { n }, time: 1700000000, originJobId: n });
}

async function counts(tube: string) {
  const s = await producer.statsTube(tube);
  return {
    ready: Number(s?.['current-jobs-ready'] ?? 0),
    reserved: Number(s?.['current-jobs-reserved'] ?? 0),
  };
}

describe('sender window', () => {
  it('holds exactly `concurrency` hanging pushes, then serves the next jobs as soon as slots free up', async () => {
    const sub = await env.source.create({
      topic: 'window',
      subscriberId: 1,
      receptionChannel: `${sink.url}/w`,
      params: { concurrency: 3, retryConcurrency: 1, timeoutMs: 30_000 },
    });
    const tube = channelTube('window', sub.id);
    let hang = true;
    sink.answer = () => (hang ? { hang: true } : { status: 200, body: '{"status":1}' });
    await env.startGateway();
    for (let n = 1; n <= 6; n++) await producer.put(job('window', n), { tube });

    await waitFor('three pushes in flight', () => sink.received.length === 3);
    await waitFor('three reserved, three ready', async () => {
      const c = await counts(tube);
      return c.reserved === 3 && c.ready === 3;
    });
    expect(sink.received.length).toBe(3);

    // The subscriber answers again; the hanging pushes fail (and are retried), their slots serve the rest.
    hang = false;
    sink.dropHanging();
    await waitFor(
      'all six delivered',
      () => {
        const got = new Set(sink.received.map((r) => JSON.parse(r.form.get('message') ?? '{}').n));
        return got.size === 6;
      },
      60_000,
    );
    await waitFor('tube empty', async () => {
      const c = await counts(tube);
      return c.reserved === 0 && c.ready === 0;
    });
  });
});
