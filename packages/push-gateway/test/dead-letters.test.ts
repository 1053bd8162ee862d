import { describe, expect, it } from 'vitest';
import { ControlServer } from '../src/control/control-server.js';
import { TubeDeadLetters } from '../src/control/tube-dead-letters.js';
import { decodeJob, encodeJob } from '../src/job/job-codec.js';
import { JOB_MESSAGE_DEFAULTS } from '../src/job/job-message.js';
import { channelTube, deadLetterTube } from '../src/job/tube-names.js';
import { MemorySubscriptionAdmin } from './helpers/memory-subscription-admin.js';
import { subscriptionFixture } from './helpers/subscription-fixture.js';
import { useTwoBeanstalkd } from './helpers/two-beanstalkd.js';

const servers = useTwoBeanstalkd();

describe('dead letters over the REST API (two real beanstalkd servers)', () => {
  it('lists, redrives with an edited body and deletes dead letters; the rest stay untouched', async () => {
    const sub = subscriptionFixture(21, 'order.paid');
    const dead = deadLetterTube(sub.topic, sub.id);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const job = encodeJob({
        ...JOB_MESSAGE_DEFAULTS,
        msgKey: sub.topic,
        body: { n: i },
        retryTimes: 10,
        originJobId: 100 + i,
      });
      const r = await servers.pool().put(dead, job, {
        preferAddress: i < 2 ? `127.0.0.1:${servers.a().port}` : `127.0.0.1:${servers.b().port}`,
      });
      ids.push(`${r.address}/${r.id}`);
    }
    const server = new ControlServer({
      subscriptions: new MemorySubscriptionAdmin(),
      deadLetters: new TubeDeadLetters({
        pool: servers.pool(),
        subscriptions: { get: async (id) => (id === 21 ? sub : undefined) },
      }),
      token: 't',
      port: 0,
    });
    const auth = { authorization: 'Bearer t' };
    const list = await server.app.inject({ url: '/api/v1/subscriptions/21/dead-letters', headers: auth });
    expect(list.statusCode).toBe(200);
    const letters = list.json().deadLetters as { id: string; body: unknown; retryTimes: number }[];
    expect(letters.map((l) => l.id).sort()).toEqual([...ids].sort());
    expect(letters.find((l) => l.id === ids[1])).toMatchObject({ body: { n: 1 }, retryTimes: 10 });
    // Listing changed nothing.
    expect(await servers.pool().tubeCount(dead, 'current-jobs-ready')).toBe(4);

    const redrive = await server.app.inject({
      method: 'POST',
      url: `/api/v1/subscriptions/21/dead-letters/${encodeURIComponent(ids[2] as string)}/redrive`,
      headers: auth,
      payload: { body: { n: 'fixed' } },
    });
    expect(redrive.statusCode).toBe(202);
    const r = servers.pool().createReserveClient(`127.0.0.1:${servers.b().port}`);
    await r.watch(channelTube(sub.topic, sub.id));
    const job = await r.reserve(5);
    expect(job).toBeDefined();
    const msg = decodeJob(job?.payload ?? Buffer.alloc(0));
    expect(msg).toMatchObject({ body: { n: 'fixed' }, retryTimes: 0, originJobId: 102 });
    await r.delete(job?.id ?? 0);
    await servers.pool().release(r);

    const del = await server.app.inject({
      method: 'DELETE',
      url: `/api/v1/subscriptions/21/dead-letters/${encodeURIComponent(ids[0] as string)}`,
      headers: auth,
    });
    expect(del.statusCode).toBe(204);
    expect(await servers.pool().tubeCount(dead, 'current-jobs-ready')).toBe(2);
    expect(await servers.pool().tubeCount(dead, 'current-jobs-reserved')).toBe(0);
    const gone = await server.app.inject({
      method: 'POST',
      url: `/api/v1/subscriptions/21/dead-letters/${encodeURIComponent(ids[0] as string)}/redrive`,
      headers: auth,
    });
    expect([gone.statusCode, gone.json().error.code]).toEqual([404, 'DSP_PUSH_NOT_FOUND']);
    const bogus = await server.app.inject({
      method: 'DELETE',
      url: '/api/v1/subscriptions/21/dead-letters/nowhere%2F1',
      headers: auth,
    });
    expect(bogus.statusCode).toBe(404);
    await server.close();
  });
});
