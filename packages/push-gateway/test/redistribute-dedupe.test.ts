import { encode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BeanstalkClient } from '../src/beanstalk/beanstalk-client.js';
import { channelTube, DEFAULT_MAIN_TUBE } from '../src/job/tube-names.js';
import { Redistributor } from '../src/redistribute/redistributor.js';
import { type GatewayEnv, startGatewayEnv } from './helpers/gateway-env.js';
import { waitFor } from './helpers/wait-for.js';

let env: GatewayEnv;
beforeAll(async () => {
  // One fresh server: job ids are predictable (1, 2, …).
  env = await startGatewayEnv(1);
});
afterAll(async () => {
  await env?.close();
});

describe('Redistributor', () => {
  it('skips subscriptions a crashed instance already copied to, and copies to the others', async () => {
    const a = await env.source.create({
      topic: 'dedupe',
      subscriberId: 1,
      receptionChannel: 'http://127.0.0.1:9/a',
    });
    const b = await env.source.create({
      topic: 'dedupe',
      subscriberId: 2,
      receptionChannel: 'http://127.0.0.1:9/b',
    });
    const address = env.addresses[0] as string;
    // What a gateway killed between the copy to A and the main-tube delete leaves: A's record for job 1.
    await env.redis.hset(`medispatcher:redist:${address}:1:1700000001`, String(a.id), '1');
    const producer = new BeanstalkClient({ port: env.beanstalkds[0]?.port });
    const id = await producer.put(encode({ MsgKey: 'dedupe', Body: { d: 1 }, Time: 1700000001 }), {
      tube: DEFAULT_MAIN_TUBE,
    });
    expect(id).toBe(1);
    const r = new Redistributor({ pool: env.pool, source: env.source, redis: env.redis });
    r.start();
    try {
      await waitFor(
        'copied to B',
        async () => (await producer.statsTube(channelTube('dedupe', b.id)))?.['current-jobs-ready'] === 1,
      );
      await waitFor(
        'main tube empty',
        async () =>
          (await producer.statsTube(DEFAULT_MAIN_TUBE))?.['total-jobs'] === 1 &&
          (await producer.statsTube(DEFAULT_MAIN_TUBE))?.['current-jobs-ready'] === 0 &&
          (await producer.statsTube(DEFAULT_MAIN_TUBE))?.['current-jobs-reserved'] === 0,
      );
      expect(await producer.statsTube(channelTube('dedupe', a.id))).toBeUndefined();
      // The copy carries the main job id as OriginJobId and PascalCase keys.
      const copy = await producer.peekReady({ tube: channelTube('dedupe', b.id) });
      expect(copy?.payload.includes(Buffer.from('OriginJobId'))).toBe(true);
      expect(await env.redis.hget(`medispatcher:redist:${address}:1:1700000001`, String(b.id))).toBe('1');
    } finally {
      await r.close();
      await producer.close();
    }
  });
});
