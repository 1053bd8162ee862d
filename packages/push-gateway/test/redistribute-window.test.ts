import { encode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BeanstalkClient } from '../src/beanstalk/beanstalk-client.js';
import { channelTube, DEFAULT_MAIN_TUBE } from '../src/job/tube-names.js';
import { Redistributor } from '../src/redistribute/redistributor.js';
import type { SubscriptionSource } from '../src/subscriptions/subscription-source.js';
import { type GatewayEnv, startGatewayEnv } from './helpers/gateway-env.js';
import { waitFor } from './helpers/wait-for.js';

let env: GatewayEnv;
beforeAll(async () => {
  env = await startGatewayEnv(1);
});
afterAll(async () => {
  await env?.close();
});

describe('Redistributor window', () => {
  it('handles several main-tube messages side by side on one listener, and copies each once', async () => {
    const sub = await env.source.create({
      topic: 'window',
      subscriberId: 1,
      receptionChannel: 'http://127.0.0.1:9/w',
    });
    // The real source, with its topic look-up held until four messages are in hand at once: only a listener
    // that takes several messages gets past it (one message at a time would stay at one forever).
    let pending = 0;
    let maxPending = 0;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const source = new Proxy(env.source, {
      get(target, prop) {
        if (prop === 'listByTopic')
          return async (topic: string) => {
            pending += 1;
            maxPending = Math.max(maxPending, pending);
            await gate;
            pending -= 1;
            return target.listByTopic(topic);
          };
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as SubscriptionSource;
    const producer = new BeanstalkClient({ port: env.beanstalkds[0]?.port });
    for (let i = 0; i < 6; i++)
      await producer.put(encode({ MsgKey: 'window', Body: { i }, Time: 1700000100 + i }), {
        tube: DEFAULT_MAIN_TUBE,
      });
    const r = new Redistributor({
      pool: env.pool,
      source,
      redis: env.redis,
      listenersPerServer: 1,
      messagesPerListener: 4,
    });
    r.start();
    try {
      await waitFor('four messages in hand on one listener', async () => pending === 4);
      open();
      await waitFor(
        'six copies made, main tube empty',
        async () =>
          (await producer.statsTube(channelTube('window', sub.id)))?.['current-jobs-ready'] === 6 &&
          (await producer.statsTube(DEFAULT_MAIN_TUBE))?.['current-jobs-ready'] === 0 &&
          (await producer.statsTube(DEFAULT_MAIN_TUBE))?.['current-jobs-reserved'] === 0,
      );
      expect(maxPending).toBe(4);
    } finally {
      open();
      await r.close();
      await producer.close();
    }
  });
});
