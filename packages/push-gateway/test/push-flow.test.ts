import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { verifyWebhook } from '@dispatcher/core/http';
import { encode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BeanstalkClient } from '../src/beanstalk/beanstalk-client.js';
import { PushChannels, type PushDeadLetterEvent } from '../src/events/push-events.js';
import { decodeJob } from '../src/job/job-codec.js';
import { DEFAULT_MAIN_TUBE, deadLetterTube } from '../src/job/tube-names.js';
import { type GatewayEnv, startGatewayEnv } from './helpers/gateway-env.js';
import { SubscriberServer } from './helpers/subscriber-server.js';
import { waitFor } from './helpers/wait-for.js';

let env: GatewayEnv;
const servers: SubscriberServer[] = [];

async function subscriber(): Promise<SubscriberServer> {
  const s = await SubscriberServer.start();
  servers.push(s);
  return s;
}

/** Puts a PHP-style (camelCase) job into the main tube of server `i`. */
async function produce(
  i: number,
  msgKey: string,
  body: unknown,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const b = env.beanstalkds[i % env.beanstalkds.length];
  const c = new BeanstalkClient({ port: b?.port });
  try {
    await c.put(encode({ msgKey, body, sender: 'test', time: 1700000000.5, ...extra }), {
      tube: DEFAULT_MAIN_TUBE,
    });
  } finally {
    await c.close();
  }
}

async function buriedEverywhere(): Promise<number> {
  let total = 0;
  for (const c of env.pool.clients)
    for (const tube of await c.listTubes())
      total += Number((await c.statsTube(tube))?.['current-jobs-buried'] ?? 0);
  return total;
}

beforeAll(async () => {
  env = await startGatewayEnv(2);
  await env.startGateway({ push: { receptionEnv: 'PUB' } });
});

afterAll(async () => {
  await env?.close();
  await Promise.all(servers.map((s) => s.close()));
});

describe('redistribute + push (2 beanstalkd, redis-server, real HTTP subscribers)', () => {
  it('fans each message out to every matching subscription, in the original request format', async () => {
    const a = await subscriber();
    const b = await subscriber();
    const other = await subscriber();
    const subA = await env.source.create({
      topic: 'order.paid',
      subscriberId: 1,
      receptionChannel: `${a.url}/hook?src=mec`,
      params: { concurrency: 2 },
    });
    const subB = await env.source.create({
      topic: 'order.paid',
      subscriberId: 2,
      receptionChannel: '',
      params: { urls: [`[T_ENV:STAG]${other.url}/wrong-env`, `[T_ENV:PUB]${b.url}/pub`] },
    });
    await env.source.create({
      topic: 'user.created',
      subscriberId: 3,
      receptionChannel: `${other.url}/user`,
    });
    await waitFor('senders', async () => (await env.source.listByTopic('order.paid')).length === 2);

    for (let i = 0; i < 20; i++)
      await produce(i, 'order.paid', { n: i, text: 'é&=' }, { context: 'ctx', owl_context: 'owl' });
    await waitFor('all pushes', () => a.received.length >= 20 && b.received.length >= 20);

    expect(new Set(a.received.map((r) => JSON.parse(r.form.get('message') ?? 'null').n)).size).toBe(20);
    expect(new Set(b.received.map((r) => JSON.parse(r.form.get('message') ?? 'null').n)).size).toBe(20);
    expect(other.received.filter((r) => r.path !== '/user')).toHaveLength(0);
    const first = a.received[0];
    expect(first?.path).toBe('/hook');
    expect(first?.query.get('src')).toBe('mec');
    expect(first?.query.get('jobid')).toBe(first?.form.get('jobid'));
    expect(first?.form.get('jobid')).toMatch(new RegExp(`^1700000000\\.500000-\\d+-${subA.id}$`));
    expect(first?.form.get('retry_times')).toBe('0');
    expect(first?.query.get('retry_times')).toBe('0');
    expect(JSON.parse(first?.form.get('message') ?? '{}').text).toBe('é&=');
    expect(first?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(first?.headers['x-jumei-context']).toBe('ctx');
    expect(first?.headers['x-jumei-owl-context']).toBe('owl');
    expect(b.received[0]?.form.get('jobid')).toMatch(new RegExp(`-${subB.id}$`));
    expect(await buriedEverywhere()).toBe(0);
  });

  it('retries on the legacy schedule until the subscriber answers status 1 ("1" counts too)', async () => {
    const s = await subscriber();
    s.answer = (_p, i) =>
      i < 2 ? { status: 200, body: '{"status":0}' } : { status: 200, body: '{"status":"1"}' };
    await env.source.create({
      topic: 'retry.legacy',
      subscriberId: 10,
      receptionChannel: s.url,
      params: { retry: { kind: 'legacy', maxRetries: 5, coefficientSec: 0 } },
    });
    await waitFor('source', async () => (await env.source.listByTopic('retry.legacy')).length === 1);
    await produce(0, 'retry.legacy', { x: 1 });
    await waitFor('third attempt', () => s.received.length >= 3, 60_000);
    expect(s.received.map((r) => r.form.get('retry_times'))).toEqual(['0', '1', '2']);
    expect(new Set(s.received.map((r) => r.form.get('jobid'))).size).toBe(1);
  });

  it('honours 429 Retry-After and dead-letters after the last attempt', async () => {
    const s = await subscriber();
    s.answer = (_p, i) =>
      i === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 500, body: 'boom' };
    const sub = await env.source.create({
      topic: 'dead.letter',
      subscriberId: 11,
      receptionChannel: s.url,
      params: { retry: { kind: 'exponential', maxRetries: 1, baseDelayMs: 10, maxDelayMs: 20 } },
    });
    const dead: PushDeadLetterEvent[] = [];
    const onDead = (m: unknown) => dead.push(m as PushDeadLetterEvent);
    subscribe(PushChannels.deadLetter, onDead);
    try {
      await waitFor('source', async () => (await env.source.listByTopic('dead.letter')).length === 1);
      await produce(1, 'dead.letter', { y: 2 });
      await waitFor('dead letter', () => dead.some((d) => d.subscriptionId === sub.id), 60_000);
    } finally {
      unsubscribe(PushChannels.deadLetter, onDead);
    }
    expect(s.received).toHaveLength(2);
    const gap = (s.received[1]?.at ?? 0) - (s.received[0]?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(1_900);
    const tube = deadLetterTube('dead.letter', sub.id);
    expect(await env.pool.tubeCount(tube, 'current-jobs-ready')).toBe(1);
    let peeked: Awaited<ReturnType<BeanstalkClient['peekReady']>>;
    for (const c of env.pool.clients) peeked ??= await c.peekReady({ tube });
    expect(peeked && decodeJob(peeked.payload).retryTimes).toBe(1);
  });

  it('does not retry statuses outside retryableStatuses', async () => {
    const s = await subscriber();
    s.answer = () => ({ status: 400, body: 'bad' });
    const sub = await env.source.create({
      topic: 'no.retry',
      subscriberId: 12,
      receptionChannel: s.url,
      params: { retryableStatuses: [503], successMode: 'any-2xx' },
    });
    await waitFor('source', async () => (await env.source.listByTopic('no.retry')).length === 1);
    await produce(0, 'no.retry', {});
    await waitFor(
      'dead letter',
      async () => (await env.pool.tubeCount(deadLetterTube('no.retry', sub.id), 'current-jobs-ready')) === 1,
    );
    expect(s.received).toHaveLength(1);
  });

  it('accepts any 2xx in any-2xx mode and refuses link-local destinations', async () => {
    const s = await subscriber();
    s.answer = () => ({ status: 204 });
    await env.source.create({
      topic: 'any.2xx',
      subscriberId: 13,
      receptionChannel: s.url,
      params: { successMode: 'any-2xx' },
    });
    const meta = await env.source.create({
      topic: 'any.2xx',
      subscriberId: 14,
      receptionChannel: 'http://169.254.169.254/latest/meta-data',
    });
    await waitFor('source', async () => (await env.source.listByTopic('any.2xx')).length === 2);
    await produce(1, 'any.2xx', {});
    await waitFor('delivered', () => s.received.length === 1);
    await waitFor(
      'refused into dead letter',
      async () => (await env.pool.tubeCount(deadLetterTube('any.2xx', meta.id), 'current-jobs-ready')) === 1,
    );
  });

  it('keeps fast subscribers moving while one hangs', async () => {
    const slow = await subscriber();
    slow.answer = () => ({ hang: true });
    const fast = await subscriber();
    await env.source.create({
      topic: 'mixed',
      subscriberId: 20,
      receptionChannel: slow.url,
      params: { timeoutMs: 60_000 },
    });
    await env.source.create({ topic: 'mixed', subscriberId: 21, receptionChannel: fast.url });
    await waitFor('source', async () => (await env.source.listByTopic('mixed')).length === 2);
    for (let i = 0; i < 30; i++) await produce(i, 'mixed', { i });
    await waitFor('fast got all', () => fast.received.length >= 30, 30_000);
    // The hanging subscriber holds only its own senders (1 per server).
    expect(slow.received.length).toBeLessThanOrEqual(2);
  });

  it('picks up parameter changes written straight into Redis within a second', async () => {
    const s = await subscriber();
    const sub = await env.source.create({ topic: 'params.live', subscriberId: 30, receptionChannel: s.url });
    const { push } = await env.startGateway();
    const loops = () => push.status().find((x) => x.subscriptionId === sub.id)?.loops;
    await waitFor('initial senders', () => loops() === 2 * env.addresses.length);
    await env.redis.hset(
      `medispatcher:subscription:${sub.id}:params`,
      'Concurrency',
      '3',
      'ConcurrencyOfRetry',
      '2',
    );
    const changedAt = Date.now();
    await waitFor('new senders', () => loops() === 5 * env.addresses.length, 20_000);
    // Polled every 200 ms: a few seconds of slack for a loaded machine, far below "never picked up".
    expect(Date.now() - changedAt).toBeLessThan(6_000);
  });

  it('signs pushes (Standard Webhooks) when the subscription has a secret', async () => {
    const s = await subscriber();
    const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
    await env.source.create({
      topic: 'signed',
      subscriberId: 50,
      receptionChannel: s.url,
      params: { signingSecret: secret },
    });
    await waitFor('source', async () => (await env.source.listByTopic('signed')).length === 1);
    await produce(0, 'signed', { s: 1 });
    await waitFor('signed push', () => s.received.length === 1);
    const push = s.received[0];
    expect(push?.headers['webhook-id']).toBe(push?.form.get('jobid'));
    expect(verifyWebhook(secret, push?.headers ?? {}, Buffer.from(push?.body ?? '')).ok).toBe(true);
    expect(verifyWebhook(secret, push?.headers ?? {}, Buffer.from(`${push?.body}x`)).ok).toBe(false);
  });
});
