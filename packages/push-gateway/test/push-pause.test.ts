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

beforeAll(async () => {
  env = await startGatewayEnv(1);
  sink = await SubscriberServer.start();
});
afterAll(async () => {
  await env?.close();
  await sink?.close();
});

const loopsOf = (
  push: { status(): { subscriptionId: number; topic: string; loops: number }[] },
  id: number,
) => push.status().find((s) => s.subscriptionId === id);

describe('PushService pause / resume (the ChannelPauser of QueueClearer)', () => {
  it('holds the senders through nested pauses and a re-created subscription, then pushes again', async () => {
    const { push } = await env.startGateway();
    const sub = await env.source.create({
      id: 41,
      topic: 'pause.a',
      subscriberId: 1,
      receptionChannel: `${sink.url}/a`,
      params: { concurrency: 2, retryConcurrency: 1 },
    });
    await waitFor('senders running', () => loopsOf(push, sub.id)?.loops === 3);

    await push.pause(sub.id);
    await push.pause(sub.id);
    expect(loopsOf(push, sub.id)?.loops).toBe(0);
    await push.resume(sub.id);
    // One hold is left: still paused.
    expect(loopsOf(push, sub.id)?.loops).toBe(0);

    // Re-created under another topic while paused: its new senders start paused too.
    await env.source.remove(sub.id);
    await env.source.create({
      id: 41,
      topic: 'pause.b',
      subscriberId: 1,
      receptionChannel: `${sink.url}/b`,
    });
    await waitFor('new topic picked up', () => loopsOf(push, 41)?.topic === 'pause.b');
    expect(loopsOf(push, 41)?.loops).toBe(0);

    const producer = new BeanstalkClient({ port: env.beanstalkds[0]?.port });
    try {
      await producer.put(
        encodeJob({
          ...JOB_MESSAGE_DEFAULTS,
          msgKey: 'pause.b',
          body: { n: 1 },
          time: 1700000000,
          originJobId: 7,
        }),
        { tube: channelTube('pause.b', 41) },
      );
    } finally {
      await producer.close();
    }
    await push.resume(41);
    await waitFor('senders running again', () => (loopsOf(push, 41)?.loops ?? 0) > 0);
    const got = await waitFor('push after resume', () => sink.received.find((r) => r.path === '/b'));
    expect(JSON.parse(got.form.get('message') ?? 'null')).toEqual({ n: 1 });
  });
});
