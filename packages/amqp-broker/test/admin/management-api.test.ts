/**
 * The management API endpoint by endpoint through fastify.inject(), with a real broker behind it and
 * real AMQP clients (amqplib) making the state the API reports.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password-hash.js';
import { type AdminHarness, eventually, GUEST, startAdminHarness } from './admin-harness.js';

let h: AdminHarness;
beforeAll(async () => {
  h = await startAdminHarness();
});
afterAll(async () => {
  await h.close();
});

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
async function api(method: Method, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await h.admin.app.inject({
    method,
    url,
    headers: { authorization: GUEST, host: 'localhost:15672', ...headers },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = res.body;
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  // biome-ignore lint/suspicious/noExplicitAny: the tests read arbitrary JSON answers field by field
  return { status: res.statusCode, headers: res.headers, json: json as any };
}

describe('authentication', () => {
  it('answers 401 with RabbitMQ’s realm without credentials, and with wrong ones', async () => {
    const none = await h.admin.app.inject({
      method: 'GET',
      url: '/api/overview',
      headers: { host: 'localhost' },
    });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Basic realm="RabbitMQ Management"');
    const wrong = await api('GET', '/api/overview', undefined, {
      authorization: `Basic ${Buffer.from('guest:nope').toString('base64')}`,
    });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual({ error: 'not_authorized', reason: 'Login failed' });
  });

  it('/api/whoami names the user and its tags', async () => {
    expect((await api('GET', '/api/whoami')).json).toEqual({ name: 'guest', tags: ['administrator'] });
  });
});

describe('overview, nodes, health', () => {
  it('/api/overview has versions, totals and listeners', async () => {
    const { status, json } = await api('GET', '/api/overview', undefined, {
      accept: 'application/bert, application/json;q=0.1',
    });
    expect(status).toBe(200);
    expect(json.rabbitmq_version).toBe('3.10.8');
    expect(json.object_totals).toMatchObject({ connections: 0, queues: 0 });
    expect(json.object_totals.exchanges).toBe(12);
    expect(json.queue_totals).toMatchObject({ messages: 0, messages_ready: 0, messages_unacknowledged: 0 });
    expect(json.listeners.map((l: { protocol: string }) => l.protocol)).toEqual(['amqp', 'http']);
    expect(json.listeners[0].port).toBe(h.broker.port);
  });

  it('/api/nodes and /api/nodes/{name}', async () => {
    const nodes = (await api('GET', '/api/nodes')).json;
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ running: true, mem_alarm: false, disk_free_alarm: false });
    expect(nodes[0].fd_used).toBeGreaterThan(0);
    expect(nodes[0].uptime).toBeGreaterThanOrEqual(0);
    expect((await api('GET', `/api/nodes/${encodeURIComponent(nodes[0].name)}`)).json.name).toBe(
      nodes[0].name,
    );
    expect((await api('GET', '/api/nodes/rabbit@nowhere')).status).toBe(404);
  });

  it('health checks: alarms and port listeners', async () => {
    expect((await api('GET', '/api/health/checks/alarms')).json).toEqual({ status: 'ok' });
    expect((await api('GET', `/api/health/checks/port-listener/${h.broker.port}`)).json).toEqual({
      status: 'ok',
      port: h.broker.port,
    });
    const missing = await api('GET', '/api/health/checks/port-listener/1');
    expect(missing.status).toBe(503);
    expect(missing.json).toMatchObject({ status: 'failed', reason: 'No active listener', missing: 1 });
  });
});

describe('vhosts and limits', () => {
  it('lists vhosts, reads one by its percent-encoded name, 404 for others', async () => {
    const list = (await api('GET', '/api/vhosts')).json;
    expect(list.map((v: { name: string }) => v.name)).toEqual(['/', 'other']);
    expect((await api('GET', '/api/vhosts/%2F')).json.name).toBe('/');
    const missing = await api('GET', '/api/vhosts/nope');
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ error: 'Object Not Found', reason: 'Not Found' });
  });

  it('vhost-limits are [] when none', async () => {
    expect((await api('GET', '/api/vhost-limits')).json).toEqual([]);
    expect((await api('GET', '/api/vhost-limits/%2F')).json).toEqual([]);
    expect((await api('GET', '/api/vhost-limits/nope')).status).toBe(404);
  });
});

describe('queues', () => {
  it('PUT creates (201), again is 204, an inequivalent one is 400; booleans as strings', async () => {
    expect((await api('PUT', '/api/queues/%2F/q1', { durable: 'false', auto_delete: 'false' })).status).toBe(
      201,
    );
    expect((await api('PUT', '/api/queues/%2F/q1', { durable: false })).status).toBe(204);
    const bad = await api('PUT', '/api/queues/%2F/q1', { durable: true });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({
      error: 'bad_request',
      reason:
        "inequivalent arg 'durable' for queue 'q1' in vhost '/': received 'true' but current is 'false'",
    });
    expect((await api('PUT', '/api/queues/%2F/q2', 'not json')).json).toEqual({
      error: 'bad_request',
      reason: 'not_json',
    });
    expect((await api('PUT', '/api/queues/%2F/q2', { durable: 'yes' })).status).toBe(400);
    expect((await api('PUT', '/api/queues/nope/q2', {})).status).toBe(404);
  });

  it('publish via the default exchange, then the queue shows depth and message_stats', async () => {
    const published = await api('POST', '/api/exchanges/%2F/amq.default/publish', {
      properties: { delivery_mode: 1, headers: { a: 1 } },
      routing_key: 'q1',
      payload: 'hello',
      payload_encoding: 'string',
    });
    expect(published.json).toEqual({ routed: true });
    h.admin.stats.sample();
    const q = (await api('GET', '/api/queues/%2F/q1')).json;
    expect(q).toMatchObject({
      name: 'q1',
      vhost: '/',
      durable: false,
      auto_delete: false,
      exclusive: false,
      arguments: {},
      messages: 1,
      messages_ready: 1,
      messages_unacknowledged: 0,
      consumers: 0,
      state: 'running',
      type: 'classic',
    });
    expect(q.message_stats.publish).toBe(1);
    expect(q.message_stats.publish_details).toHaveProperty('rate');
    const unrouted = await api('POST', '/api/exchanges/%2F/amq.direct/publish', {
      properties: {},
      routing_key: 'nowhere',
      payload: 'x',
      payload_encoding: 'string',
    });
    expect(unrouted.json).toEqual({ routed: false });
  });

  it('get with each ackmode and encoding', async () => {
    const requeued = (
      await api('POST', '/api/queues/%2F/q1/get', {
        count: 5,
        ackmode: 'ack_requeue_true',
        encoding: 'auto',
        truncate: 50000,
      })
    ).json;
    expect(requeued).toHaveLength(1);
    expect(requeued[0]).toMatchObject({
      payload: 'hello',
      payload_encoding: 'string',
      payload_bytes: 5,
      redelivered: false,
      exchange: '',
      routing_key: 'q1',
      message_count: 0,
      properties: { delivery_mode: 1, headers: { a: 1 } },
    });
    const b64 = (
      await api('POST', '/api/queues/%2F/q1/get', {
        count: 1,
        ackmode: 'reject_requeue_true',
        encoding: 'base64',
        truncate: 2,
      })
    ).json;
    expect(b64[0]).toMatchObject({
      payload: Buffer.from('he').toString('base64'),
      payload_encoding: 'base64',
      redelivered: true,
    });
    const acked = (
      await api('POST', '/api/queues/%2F/q1/get', {
        count: '1',
        ackmode: 'ack_requeue_false',
        encoding: 'auto',
      })
    ).json;
    expect(acked).toHaveLength(1);
    expect(
      (
        await api('POST', '/api/queues/%2F/q1/get', {
          count: 1,
          ackmode: 'ack_requeue_false',
          encoding: 'auto',
        })
      ).json,
    ).toEqual([]);
    expect((await api('POST', '/api/queues/%2F/q1/get', { count: 1, ackmode: 'bogus' })).status).toBe(400);
    h.admin.stats.sample();
    const stats = (await api('GET', '/api/queues/%2F/q1')).json.message_stats;
    expect(stats).toMatchObject({ publish: 1, deliver_get: 3, redeliver: 2, ack: 0 });
  });

  it('binary payloads come back as base64 with encoding auto', async () => {
    await api('POST', '/api/exchanges/%2F/amq.default/publish', {
      properties: {},
      routing_key: 'q1',
      payload: Buffer.from([0xff, 0xfe, 0x00]).toString('base64'),
      payload_encoding: 'base64',
    });
    const got = (
      await api('POST', '/api/queues/%2F/q1/get', {
        count: 1,
        ackmode: 'ack_requeue_false',
        encoding: 'auto',
      })
    ).json;
    expect(got[0]).toMatchObject({ payload: '//4A', payload_encoding: 'base64', properties: [] });
  });

  it('DELETE …/contents purges, DELETE removes, 404 after', async () => {
    for (let i = 0; i < 3; i++) {
      await api('POST', '/api/exchanges/%2F/amq.default/publish', {
        properties: {},
        routing_key: 'q1',
        payload: 'x',
        payload_encoding: 'string',
      });
    }
    expect((await api('GET', '/api/queues/%2F/q1')).json.messages).toBe(3);
    expect((await api('DELETE', '/api/queues/%2F/q1/contents')).status).toBe(204);
    expect((await api('GET', '/api/queues/%2F/q1')).json.messages).toBe(0);
    expect((await api('DELETE', '/api/queues/%2F/q1')).status).toBe(204);
    expect((await api('GET', '/api/queues/%2F/q1')).status).toBe(404);
    expect((await api('DELETE', '/api/queues/%2F/q1')).status).toBe(404);
  });

  it('lists with RabbitMQ’s pagination envelope, name filter, regex, sort and columns', async () => {
    for (const name of ['p-b', 'p-a', 'p-c', 'other-1']) await api('PUT', `/api/queues/%2F/${name}`, {});
    const page = (await api('GET', '/api/queues/%2F?page=1&page_size=2&name=p-&sort=name')).json;
    expect(page).toMatchObject({
      filtered_count: 3,
      item_count: 2,
      page: 1,
      page_count: 2,
      page_size: 2,
      total_count: 4,
    });
    expect(page.items.map((i: { name: string }) => i.name)).toEqual(['p-a', 'p-b']);
    const rev = (await api('GET', '/api/queues?sort=name&sort_reverse=true&columns=name,vhost')).json;
    expect(rev[0]).toEqual({ name: 'p-c', vhost: '/' });
    const re = (await api('GET', '/api/queues/%2F?page=1&name=%5Ep-%5Bab%5D%24&use_regex=true')).json;
    expect(re.filtered_count).toBe(2);
    const out = await api('GET', '/api/queues?page=9&page_size=2');
    expect(out.status).toBe(400);
    expect(out.json.error).toBe('page_out_of_range');
    expect((await api('GET', '/api/queues?page=1&page_size=1000')).json.error).toBe(
      'invalid_pagination_parameters',
    );
    for (const name of ['p-b', 'p-a', 'p-c', 'other-1']) await api('DELETE', `/api/queues/%2F/${name}`);
  });
});

describe('exchanges and bindings', () => {
  it('exchanges: list, declare, read, 400 on an unknown type, delete', async () => {
    const names = (await api('GET', '/api/exchanges/%2F')).json.map((x: { name: string }) => x.name);
    expect(names).toEqual(['', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']);
    expect((await api('PUT', '/api/exchanges/%2F/x1', { type: 'topic', durable: 'true' })).status).toBe(201);
    expect((await api('GET', '/api/exchanges/%2F/x1')).json).toMatchObject({
      name: 'x1',
      type: 'topic',
      durable: true,
      vhost: '/',
    });
    expect((await api('GET', '/api/exchanges/%2F/amq.default')).json.name).toBe('');
    const bad = await api('PUT', '/api/exchanges/%2F/x2', { type: 'nope' });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ error: 'bad_request', reason: "unknown exchange type 'nope'" });
  });

  it('POST binding answers 201 with Location = destination/properties_key encoded once more; delete by it', async () => {
    await api('PUT', '/api/queues/%2F/bq', {});
    const created = await api('POST', '/api/bindings/%2F/e/x1/q/bq', {
      routing_key: 'a/b c',
      arguments: { x: 1 },
    });
    expect(created.status).toBe(201);
    const location = String(created.headers.location);
    expect(location).toMatch(/^bq\/a%252Fb%2Bc~[A-Za-z0-9_-]{6}$/);
    const listed = (await api('GET', '/api/bindings/%2F/e/x1/q/bq')).json;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      source: 'x1',
      destination: 'bq',
      destination_type: 'queue',
      routing_key: 'a/b c',
      arguments: { x: 1 },
      vhost: '/',
    });
    expect(encodeURIComponent(listed[0].properties_key)).toBe(location.split('/')[1]);
    const props = location.split('/')[1];
    expect((await api('GET', `/api/bindings/%2F/e/x1/q/bq/${props}`)).json.routing_key).toBe('a/b c');
    const all = (await api('GET', '/api/bindings/%2F')).json;
    expect(
      all.some((b: { source: string; destination: string }) => b.source === '' && b.destination === 'bq'),
    ).toBe(true);
    expect((await api('GET', '/api/queues/%2F/bq/bindings')).json).toHaveLength(2);
    expect((await api('GET', '/api/exchanges/%2F/x1/bindings/source')).json).toHaveLength(1);
    expect((await api('DELETE', `/api/bindings/%2F/e/x1/q/bq/${props}`)).status).toBe(204);
    expect((await api('GET', '/api/bindings/%2F/e/x1/q/bq')).json).toEqual([]);
    expect((await api('DELETE', `/api/bindings/%2F/e/x1/q/bq/${props}`)).status).toBe(404);
    expect((await api('POST', '/api/bindings/%2F/e/nope/q/bq', {})).status).toBe(404);
    // A binding made over AMQP (typed arguments) is deletable by its listed key too.
    const conn = await amqp.connect(h.amqpUrl);
    const ch = await conn.createChannel();
    await ch.bindQueue('bq', 'x1', '', { 'x-int': 7 });
    const key = (await api('GET', '/api/bindings/%2F/e/x1/q/bq')).json[0].properties_key;
    expect((await api('DELETE', `/api/bindings/%2F/e/x1/q/bq/${encodeURIComponent(key)}`)).status).toBe(204);
    await conn.close();
  });

  it('exchange-to-exchange bindings', async () => {
    await api('PUT', '/api/exchanges/%2F/x3', { type: 'fanout' });
    const created = await api('POST', '/api/bindings/%2F/e/x1/e/x3', { routing_key: '' });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe('x3/~');
    expect((await api('GET', '/api/exchanges/%2F/x3/bindings/destination')).json).toHaveLength(1);
    expect((await api('DELETE', '/api/bindings/%2F/e/x1/e/x3/~')).status).toBe(204);
    expect((await api('DELETE', '/api/exchanges/%2F/x3')).status).toBe(204);
    expect((await api('DELETE', '/api/exchanges/%2F/x3')).status).toBe(404);
  });
});

describe('connections, channels, consumers', () => {
  it('lists AMQP clients and closes one with 320', async () => {
    const conn = await amqp.connect(h.amqpUrl, { clientProperties: { connection_name: 'mgmt-test' } });
    const ch = await conn.createChannel();
    await ch.assertQueue('cq', { durable: false });
    await ch.prefetch(5);
    await ch.consume('cq', () => {}, { consumerTag: 'ctag-1' });
    const conns = (await api('GET', '/api/connections')).json;
    expect(conns).toHaveLength(1);
    expect(conns[0]).toMatchObject({
      user: 'guest',
      vhost: '/',
      channels: 1,
      user_provided_name: 'mgmt-test',
      protocol: 'AMQP 0-9-1',
    });
    const channels = (await api('GET', '/api/channels')).json;
    expect(channels[0]).toMatchObject({ number: 1, consumer_count: 1, prefetch_count: 5 });
    const consumers = (await api('GET', '/api/consumers')).json;
    expect(consumers[0]).toMatchObject({
      consumer_tag: 'ctag-1',
      queue: { name: 'cq', vhost: '/' },
      ack_required: true,
      prefetch_count: 5,
    });
    expect((await api('GET', '/api/consumers/%2F')).json).toHaveLength(1);
    expect((await api('GET', '/api/consumers/other')).json).toHaveLength(0);
    const closed = new Promise<{ code?: number; message?: string }>((resolve) =>
      conn.on('close', (err?: { code?: number; message?: string }) => resolve(err ?? {})),
    );
    const del = await api('DELETE', `/api/connections/${encodeURIComponent(conns[0].name)}`, undefined, {
      'x-reason': 'bye',
    });
    expect(del.status).toBe(204);
    const err = await closed;
    expect(err.code).toBe(320);
    expect(err.message).toContain('CONNECTION_FORCED - bye');
    await eventually(async () =>
      (await api('GET', '/api/connections')).json.length === 0 ? true : undefined,
    );
    expect((await api('DELETE', `/api/connections/${encodeURIComponent(conns[0].name)}`)).status).toBe(404);
  });
});

describe('definitions', () => {
  it('exports the whole broker and one vhost in RabbitMQ’s format and imports them back', async () => {
    await api('PUT', '/api/queues/other/dq', { durable: true, arguments: { 'x-max-length': 10 } });
    await api('PUT', '/api/exchanges/other/dx', { type: 'direct' });
    await api('POST', '/api/bindings/other/e/dx/q/dq', { routing_key: 'k' });
    const whole = (await api('GET', '/api/definitions')).json;
    expect(whole).toMatchObject({
      rabbitmq_version: '3.10.8',
      topic_permissions: [],
      policies: [],
      parameters: [],
    });
    expect(whole.users[0]).toMatchObject({
      name: 'guest',
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: ['administrator'],
    });
    expect(whole.queues).toContainEqual({
      name: 'dq',
      vhost: 'other',
      durable: true,
      auto_delete: false,
      arguments: { 'x-max-length': 10 },
    });
    expect(whole.bindings).toContainEqual({
      source: 'dx',
      vhost: 'other',
      destination: 'dq',
      destination_type: 'queue',
      routing_key: 'k',
      arguments: {},
    });
    const one = (await api('GET', '/api/definitions/other')).json;
    expect(Object.keys(one).sort()).toEqual([
      'bindings',
      'exchanges',
      'parameters',
      'policies',
      'queues',
      'rabbit_version',
    ]);
    expect(one.queues).toEqual([
      { name: 'dq', durable: true, auto_delete: false, arguments: { 'x-max-length': 10 } },
    ]);
    // Delete, import the per-vhost export, and everything is back.
    await api('DELETE', '/api/queues/other/dq');
    await api('DELETE', '/api/exchanges/other/dx');
    expect((await api('POST', '/api/definitions/other', one)).status).toBe(204);
    expect((await api('GET', '/api/definitions/other')).json).toEqual(one);
    // A whole-broker import naming an unknown vhost changes nothing and says why.
    const bad = await api('POST', '/api/definitions', {
      queues: [{ name: 'zz', vhost: 'missing', durable: true, auto_delete: false, arguments: {} }],
    });
    expect(bad.status).toBe(400);
    expect(bad.json.reason).toContain("vhost 'missing'");
    expect((await api('POST', '/api/definitions', whole)).status).toBe(204);
  });
});

describe('metrics', () => {
  it('serves RabbitMQ’s metric names, aggregated and per object', async () => {
    await api('PUT', '/api/queues/%2F/mq', {});
    await api('POST', '/api/exchanges/%2F/amq.default/publish', {
      properties: {},
      routing_key: 'mq',
      payload: 'x',
      payload_encoding: 'string',
    });
    const res = await h.admin.app.inject({ method: 'GET', url: '/metrics', headers: { host: 'localhost' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    for (const name of [
      'rabbitmq_queue_messages_ready',
      'rabbitmq_queue_messages_unacked',
      'rabbitmq_queue_messages',
      'rabbitmq_queue_consumers',
      'rabbitmq_global_messages_received_total{protocol="amqp091"}',
      'rabbitmq_global_messages_delivered_total',
      'rabbitmq_global_messages_acknowledged_total',
      'rabbitmq_connections',
      'rabbitmq_channels',
      'rabbitmq_queues',
      'rabbitmq_consumers',
      'rabbitmq_identity_info{',
      'rabbitmq_build_info{',
      'rabbitmq_process_resident_memory_bytes',
      'rabbitmq_disk_space_available_bytes',
      'rabbitmq_alarms_memory_used_watermark',
    ]) {
      expect(res.body).toContain(`\n${name}`);
    }
    expect(res.body).toMatch(/\nrabbitmq_queue_messages_ready 1\n/);
    const per = await h.admin.app.inject({
      method: 'GET',
      url: '/metrics/per-object',
      headers: { host: 'localhost' },
    });
    expect(per.body).toContain('rabbitmq_queue_messages_ready{vhost="/",queue="mq"} 1');
  });
});

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('users, permissions and vhosts (administrators)', () => {
  it('PUT/GET/DELETE users: 201 then 204, tags as string or array, password or password_hash', async () => {
    const created = await api('PUT', '/api/users/u-alice', {
      password: 'a-pw',
      tags: 'monitoring, management',
    });
    expect(created.status).toBe(201);
    const alice = (await api('GET', '/api/users/u-alice')).json;
    expect(alice).toMatchObject({
      name: 'u-alice',
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: ['monitoring', 'management'],
      limits: {},
    });
    expect(alice.password_hash).not.toContain('a-pw');
    expect(
      (await api('GET', '/api/whoami', undefined, { authorization: basic('u-alice', 'a-pw') })).json,
    ).toEqual({ name: 'u-alice', tags: ['monitoring', 'management'] });
    // Updating with a hash: the password it was made from logs in, the old one no longer does.
    const hash = hashPassword('b-pw', 'rabbit_password_hashing_sha512');
    const updated = await api('PUT', '/api/users/u-alice', {
      password_hash: hash,
      hashing_algorithm: 'rabbit_password_hashing_sha512',
      tags: ['management'],
    });
    expect(updated.status).toBe(204);
    expect(
      (await api('GET', '/api/whoami', undefined, { authorization: basic('u-alice', 'b-pw') })).status,
    ).toBe(200);
    expect(
      (await api('GET', '/api/whoami', undefined, { authorization: basic('u-alice', 'a-pw') })).status,
    ).toBe(401);
    expect((await api('GET', '/api/users')).json.map((u: { name: string }) => u.name)).toEqual([
      'guest',
      'u-alice',
    ]);
    // RabbitMQ's answers to bad bodies; nothing changes.
    expect((await api('PUT', '/api/users/u-alice', { password: 'x' })).json).toEqual({
      error: 'bad_request',
      reason: 'tags_not_present',
    });
    const badHash = await api('PUT', '/api/users/u-bob', { password_hash: 'xx', tags: '' });
    expect(badHash.status).toBe(400);
    expect((await api('GET', '/api/users/u-bob')).status).toBe(404);
    expect((await api('DELETE', '/api/users/u-alice')).status).toBe(204);
    expect((await api('DELETE', '/api/users/u-alice')).status).toBe(404);
    expect((await api('GET', '/api/users/u-alice')).json).toEqual({
      error: 'Object Not Found',
      reason: 'Not Found',
    });
  });

  it('POST /api/users/bulk-delete deletes in order and stops at the first missing user', async () => {
    for (const u of ['bulk-a', 'bulk-b']) await api('PUT', `/api/users/${u}`, { password: 'pw', tags: '' });
    const res = await api('POST', '/api/users/bulk-delete', { users: ['bulk-a', 'bulk-nobody', 'bulk-b'] });
    expect([res.status, res.json]).toEqual([
      400,
      { error: 'bad_request', reason: ['no_such_user', 'bulk-nobody'] },
    ]);
    expect([h.broker.users.has('bulk-a'), h.broker.users.has('bulk-b')]).toEqual([false, true]);
    expect((await api('POST', '/api/users/bulk-delete', { users: ['bulk-b'] })).status).toBe(204);
    expect(h.broker.users.has('bulk-b')).toBe(false);
    expect((await api('POST', '/api/users/bulk-delete', {})).json).toEqual({
      error: 'bad_request',
      reason: '[{key_missing,users}]',
    });
    expect((await api('POST', '/api/users/bulk-delete', { users: 'bulk-a' })).status).toBe(400);
    expect((await api('GET', '/api/users/bulk-delete')).status).toBe(405);
  });

  it('PUT/GET/DELETE permissions and vhosts; a deleted user or vhost takes its permissions along', async () => {
    expect((await api('PUT', '/api/vhosts/perm-vh')).status).toBe(201);
    expect((await api('PUT', '/api/vhosts/perm-vh')).status).toBe(204);
    await api('PUT', '/api/users/u-carol', { password: 'c-pw', tags: '' });
    const perm = { configure: '^c', write: '^w', read: '.*' };
    expect((await api('PUT', '/api/permissions/perm-vh/u-carol', perm)).status).toBe(201);
    expect((await api('PUT', '/api/permissions/perm-vh/u-carol', perm)).status).toBe(204);
    expect((await api('PUT', '/api/permissions/perm-vh/nobody', perm)).json).toEqual({
      error: 'bad_request',
      reason: 'vhost_or_user_not_found',
    });
    expect((await api('PUT', '/api/permissions/no-vh/u-carol', perm)).status).toBe(400);
    expect((await api('PUT', '/api/permissions/perm-vh/u-carol', { configure: '.*' })).json).toEqual({
      error: 'bad_request',
      reason: '[{key_missing,write},{key_missing,read}]',
    });
    expect((await api('PUT', '/api/permissions/perm-vh/u-carol', { ...perm, read: '(' })).status).toBe(400);
    const entry = { user: 'u-carol', vhost: 'perm-vh', ...perm };
    expect((await api('GET', '/api/permissions/perm-vh/u-carol')).json).toEqual(entry);
    expect((await api('GET', '/api/permissions')).json).toContainEqual(entry);
    expect((await api('GET', '/api/users/u-carol/permissions')).json).toEqual([entry]);
    // Whoever creates a vhost through the API gets full permissions on it, as with RabbitMQ.
    expect((await api('GET', '/api/vhosts/perm-vh/permissions')).json).toEqual([
      { user: 'guest', vhost: 'perm-vh', configure: '.*', write: '.*', read: '.*' },
      entry,
    ]);
    expect((await api('GET', '/api/vhosts/nope/permissions')).status).toBe(404);
    expect(h.broker.permissions.get('u-carol', 'perm-vh')).toMatchObject(perm);
    expect((await api('DELETE', '/api/permissions/perm-vh/u-carol')).status).toBe(204);
    expect((await api('DELETE', '/api/permissions/perm-vh/u-carol')).status).toBe(404);
    await api('PUT', '/api/permissions/perm-vh/u-carol', perm);
    expect((await api('DELETE', '/api/vhosts/perm-vh')).status).toBe(204);
    expect((await api('DELETE', '/api/vhosts/perm-vh')).status).toBe(404);
    expect(h.broker.vhostNames()).not.toContain('perm-vh');
    expect((await api('GET', '/api/users/u-carol/permissions')).json).toEqual([]);
    await api('PUT', '/api/permissions/%2F/u-carol', perm);
    expect((await api('DELETE', '/api/users/u-carol')).status).toBe(204);
    expect(h.broker.permissions.list({ user: 'u-carol' })).toEqual([]);
  });

  it('POST /api/definitions creates the vhosts, users (hashes as given) and permissions of the file', async () => {
    const hash = hashPassword('d-pw', 'rabbit_password_hashing_sha256');
    const defs = {
      rabbit_version: '3.10.8',
      users: [
        {
          name: 'u-dave',
          password_hash: hash,
          hashing_algorithm: 'rabbit_password_hashing_sha256',
          tags: ['management'],
          limits: {},
        },
      ],
      vhosts: [{ name: 'def-vh' }],
      permissions: [{ user: 'u-dave', vhost: 'def-vh', configure: '.*', write: '.*', read: '.*' }],
      queues: [{ name: 'def-q', vhost: 'def-vh', durable: true, auto_delete: false, arguments: {} }],
    };
    // A permission of an unknown user fails the whole import before anything changes.
    const bad = await api('POST', '/api/definitions', {
      ...defs,
      permissions: [
        ...defs.permissions,
        { user: 'ghost', vhost: 'def-vh', configure: '', write: '', read: '' },
      ],
    });
    expect(bad.status).toBe(400);
    expect(h.broker.vhostNames()).not.toContain('def-vh');
    expect(h.broker.users.has('u-dave')).toBe(false);
    expect((await api('POST', '/api/definitions', defs)).status).toBe(204);
    expect(h.broker.users.get('u-dave')).toMatchObject({ passwordHash: hash, tags: ['management'] });
    const asDave = basic('u-dave', 'd-pw');
    const queues = await api('GET', '/api/queues', undefined, { authorization: asDave });
    expect(queues.json.map((q: { name: string; vhost: string }) => [q.vhost, q.name])).toEqual([
      ['def-vh', 'def-q'],
    ]);
    expect((await api('DELETE', '/api/vhosts/def-vh')).status).toBe(204);
    expect((await api('DELETE', '/api/users/u-dave')).status).toBe(204);
  });

  it('changes made through the API survive a restart of the broker', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dsp-mgmt-persist-'));
    try {
      const first = await startAdminHarness({ persistDir: dir });
      const call = (method: Method, url: string, body?: unknown) =>
        first.admin.app.inject({
          method,
          url,
          headers: { authorization: GUEST, host: 'localhost' },
          ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        });
      expect((await call('PUT', '/api/vhosts/kept')).statusCode).toBe(201);
      expect(
        (await call('PUT', '/api/users/u-erin', { password: 'e-pw', tags: 'monitoring' })).statusCode,
      ).toBe(201);
      expect(
        (await call('PUT', '/api/permissions/kept/u-erin', { configure: '', write: '', read: '^r' }))
          .statusCode,
      ).toBe(201);
      await first.close();
      const again = await startAdminHarness({ persistDir: dir, vhosts: ['/'] });
      try {
        expect(again.broker.vhostNames()).toContain('kept');
        expect(again.broker.users.get('u-erin')?.tags).toEqual(['monitoring']);
        expect(again.broker.permissions.get('u-erin', 'kept')).toMatchObject({ read: '^r', write: '' });
        const who = await again.admin.app.inject({
          method: 'GET',
          url: '/api/whoami',
          headers: { authorization: basic('u-erin', 'e-pw'), host: 'localhost' },
        });
        expect(JSON.parse(who.body)).toEqual({ name: 'u-erin', tags: ['monitoring'] });
      } finally {
        await again.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('tag-based access', () => {
  const MON = basic('t-mon', 'pw');
  const MGMT = basic('t-mgmt', 'pw');
  const NONE = basic('t-none', 'pw');
  beforeAll(async () => {
    await api('PUT', '/api/vhosts/acl-own');
    for (const [name, tags] of [
      ['t-mon', 'monitoring'],
      ['t-mgmt', 'management'],
      ['t-pol', 'policymaker'],
      ['t-none', ''],
    ] as const) {
      await api('PUT', `/api/users/${name}`, { password: 'pw', tags });
    }
    for (const u of ['t-mon', 't-mgmt', 't-pol'])
      await api('PUT', `/api/permissions/acl-own/${u}`, { configure: '.*', write: '.*', read: '.*' });
    await api('PUT', '/api/queues/acl-own/own-q', {});
    await api('PUT', '/api/queues/other/foreign-q', {});
  });
  afterAll(async () => {
    for (const u of ['t-mon', 't-mgmt', 't-pol', 't-none']) await api('DELETE', `/api/users/${u}`);
    await api('DELETE', '/api/vhosts/acl-own');
    await api('DELETE', '/api/queues/other/foreign-q');
  });

  it('a user without a management tag gets RabbitMQ’s 401 without a challenge', async () => {
    const res = await api('GET', '/api/overview', undefined, { authorization: NONE });
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: 'not_authorised', reason: 'Not management user' });
    expect(res.headers['www-authenticate']).toBeUndefined();
  });

  it('monitoring: nodes and every vhost, but queues only where it has permissions and no user admin', async () => {
    expect((await api('GET', '/api/nodes', undefined, { authorization: MON })).status).toBe(200);
    expect((await api('GET', '/api/overview', undefined, { authorization: MON })).status).toBe(200);
    const vhosts = (await api('GET', '/api/vhosts', undefined, { authorization: MON })).json;
    expect(vhosts.map((v: { name: string }) => v.name).sort()).toEqual(['/', 'acl-own', 'other']);
    const queues = (await api('GET', '/api/queues', undefined, { authorization: MON })).json;
    expect(queues.map((q: { name: string }) => q.name)).toEqual(['own-q']);
    const denied = await api('GET', '/api/queues/other', undefined, { authorization: MON });
    expect(denied.status).toBe(401);
    expect(denied.json).toEqual({
      error: 'not_authorised',
      reason: 'User not authorised to access virtual host',
    });
    expect((await api('GET', '/api/exchanges/other', undefined, { authorization: MON })).status).toBe(401);
    for (const [method, url] of [
      ['GET', '/api/users'],
      ['GET', '/api/permissions'],
      ['PUT', '/api/vhosts/mon-made'],
      ['DELETE', '/api/vhosts/acl-own'],
      ['PUT', '/api/users/t-none'],
      ['GET', '/api/definitions'],
    ] as const) {
      const res = await api(
        method,
        url,
        method === 'PUT' ? { password: 'x', tags: 'administrator' } : undefined,
        {
          authorization: MON,
        },
      );
      expect([url, res.status, res.json]).toEqual([
        url,
        401,
        { error: 'not_authorised', reason: 'Not administrator user' },
      ]);
    }
    expect(h.broker.vhostNames()).not.toContain('mon-made');
    expect(h.broker.users.get('t-none')?.tags).toEqual([]);
  });

  it('management and policymaker: own vhosts only, no nodes; writes need the vhost', async () => {
    for (const auth of [MGMT, basic('t-pol', 'pw')]) {
      const vhosts = (await api('GET', '/api/vhosts', undefined, { authorization: auth })).json;
      expect(vhosts.map((v: { name: string }) => v.name)).toEqual(['acl-own']);
      expect((await api('GET', '/api/nodes', undefined, { authorization: auth })).json).toEqual({
        error: 'not_authorised',
        reason: 'Not monitor user',
      });
    }
    expect((await api('PUT', '/api/queues/other/mgmt-q', {}, { authorization: MGMT })).status).toBe(401);
    expect(
      (await api('DELETE', '/api/queues/other/foreign-q', undefined, { authorization: MGMT })).status,
    ).toBe(401);
    expect(
      (
        await api(
          'POST',
          '/api/exchanges/other/amq.default/publish',
          { routing_key: 'foreign-q', payload: 'x', properties: {} },
          { authorization: MGMT },
        )
      ).status,
    ).toBe(401);
    expect(
      (
        await api(
          'POST',
          '/api/queues/other/foreign-q/get',
          { count: 1, ackmode: 'ack_requeue_false' },
          { authorization: MGMT },
        )
      ).status,
    ).toBe(401);
    expect(
      (await api('GET', '/api/queues/other/foreign-q', undefined, { authorization: GUEST })).json.messages,
    ).toBe(0);
    expect((await api('PUT', '/api/queues/acl-own/mgmt-q', {}, { authorization: MGMT })).status).toBe(201);
    expect((await api('GET', '/api/queues/nowhere', undefined, { authorization: MGMT })).status).toBe(404);
    expect(
      (await api('DELETE', '/api/queues/acl-own/mgmt-q', undefined, { authorization: MGMT })).status,
    ).toBe(204);
  });

  it('actions need the resource permissions, administrators included; refusals change nothing', async () => {
    const narrow = { configure: '^cfg-', write: '^w-', read: '^r-' };
    await api('PUT', '/api/users/t-narrow-admin', { password: 'pw', tags: 'administrator' });
    for (const u of ['t-mgmt', 't-narrow-admin']) await api('PUT', `/api/permissions/acl-own/${u}`, narrow);
    try {
      await api('PUT', '/api/queues/acl-own/q-full', {});
      await api('POST', '/api/exchanges/acl-own/amq.default/publish', {
        routing_key: 'q-full',
        payload: 'x',
        properties: {},
      });
      const refused = { error: 'not_authorised', reason: 'Access refused.' };
      for (const auth of [MGMT, basic('t-narrow-admin', 'pw')]) {
        const as = (method: Method, url: string, body?: unknown) =>
          api(method, url, body, { authorization: auth });
        expect((await as('PUT', '/api/queues/acl-own/q-new', {})).json).toEqual(refused);
        expect((await as('DELETE', '/api/queues/acl-own/q-full/contents')).json).toEqual(refused);
        expect((await as('DELETE', '/api/queues/acl-own/q-full')).json).toEqual(refused);
        const got = await as('POST', '/api/queues/acl-own/q-full/get', {
          count: 1,
          ackmode: 'ack_requeue_false',
        });
        expect([got.status, got.json.error]).toEqual([401, 'not_authorised']);
        const published = await as('POST', '/api/exchanges/acl-own/amq.direct/publish', {
          routing_key: 'k',
          payload: 'x',
          properties: {},
        });
        expect(published.json.reason).toMatch(/^403 ACCESS_REFUSED - access to exchange 'amq.direct'/);
        expect((await as('POST', '/api/bindings/acl-own/e/amq.direct/q/q-full', {})).json).toEqual(refused);
      }
      expect(h.broker.vhost('acl-own')?.getQueueIfExists('q-new')).toBeUndefined();
      expect(h.broker.vhost('acl-own')?.getQueueIfExists('q-full')?.messageCount).toBe(1);
      expect((await api('GET', '/api/bindings/acl-own/e/amq.direct/q/q-full')).json).toEqual([]);
      // Allowed names pass.
      const as = (method: Method, url: string, body?: unknown) =>
        api(method, url, body, { authorization: MGMT });
      expect((await as('PUT', '/api/queues/acl-own/cfg-q', {})).status).toBe(201);
      expect((await as('DELETE', '/api/queues/acl-own/cfg-q')).status).toBe(204);
    } finally {
      await api('DELETE', '/api/users/t-narrow-admin');
      await api('PUT', '/api/permissions/acl-own/t-mgmt', { configure: '.*', write: '.*', read: '.*' });
      await api('DELETE', '/api/queues/acl-own/q-full');
    }
  });

  it('the overview of a management user counts only its own vhosts and shows no node', async () => {
    const own = (await api('GET', '/api/overview', undefined, { authorization: MGMT })).json;
    expect(own.object_totals).toEqual({ channels: 0, connections: 0, exchanges: 6, queues: 1 });
    expect(own.queue_totals).toEqual({});
    expect(own).not.toHaveProperty('listeners');
    expect(own).not.toHaveProperty('node');
    const all = (await api('GET', '/api/overview', undefined, { authorization: MON })).json;
    expect(all.object_totals.queues).toBeGreaterThan(1);
    expect(all.listeners).toHaveLength(2);
  });

  it('connections: monitoring sees all, management only its own', async () => {
    const port = h.broker.port;
    const guestConn = await amqp.connect(h.amqpUrl);
    const mgmtConn = await amqp.connect(`amqp://t-mgmt:pw@127.0.0.1:${port}/acl-own`);
    try {
      const users = async (auth: string) =>
        (
          (await api('GET', '/api/connections', undefined, { authorization: auth })).json as {
            user: string;
          }[]
        )
          .map((c) => c.user)
          .sort();
      await eventually(async () => ((await users(MON)).length === 2 ? true : undefined));
      expect(await users(MON)).toEqual(['guest', 't-mgmt']);
      expect(await users(MGMT)).toEqual(['t-mgmt']);
    } finally {
      await guestConn.close();
      await mgmtConn.close();
    }
  });
});
