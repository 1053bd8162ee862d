import { request as httpRequest } from 'node:http';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlertSettingsStore } from '../src/alerts/alert-settings-store.js';
import type {
  ClearReport,
  DeadLetter,
  DeadLetterAdmin,
  QueueClearing,
} from '../src/control/control-ports.js';
import { ControlServer } from '../src/control/control-server.js';
import { PushError } from '../src/errors.js';
import { PushStats } from '../src/stats/push-stats.js';
import { redisForFile } from './helpers/file-redis.js';
import { MemorySubscriptionAdmin } from './helpers/memory-subscription-admin.js';

/** Dead letters held in memory, standing in for the engine's dead-letter tubes. */
class MemoryDeadLetters implements DeadLetterAdmin {
  letters: DeadLetter[] = [];
  redriven: { id: string; edits: unknown }[] = [];
  async list(subscriptionId: number, options: { limit?: number } = {}) {
    return this.letters.filter((l) => l.subscriptionId === subscriptionId).slice(0, options.limit ?? 100);
  }
  async redrive(subscriptionId: number, id: string, edits?: unknown) {
    const i = this.letters.findIndex((l) => l.id === id && l.subscriptionId === subscriptionId);
    if (i < 0) throw new PushError('DSP_PUSH_NOT_FOUND', `dead letter ${id} not found`);
    this.letters.splice(i, 1);
    this.redriven.push({ id, edits });
  }
  async remove(subscriptionId: number, id: string) {
    const before = this.letters.length;
    this.letters = this.letters.filter((l) => !(l.id === id && l.subscriptionId === subscriptionId));
    return this.letters.length < before;
  }
}

/** Raw HTTP over a real socket, so Host / Origin are exactly what a browser would send. */
function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    },
  );
}

let redis: Redis;
redisForFile((client) => {
  redis = client;
});

describe('control REST API', () => {
  let admin: MemorySubscriptionAdmin;
  let stats: PushStats;
  let dead: MemoryDeadLetters;
  let clears: string[];
  let server: ControlServer;
  const auth = { authorization: 'Bearer s3cret' };

  beforeEach(async () => {
    await redis.flushall();
    admin = new MemorySubscriptionAdmin();
    stats = new PushStats({ redis, keyPrefix: 'api' });
    dead = new MemoryDeadLetters();
    clears = [];
    const clearer: QueueClearing = {
      clearSubscription: async (id): Promise<ClearReport> => {
        clears.push(`sub:${id}`);
        return { deleted: 2, tubes: [{ server: 'b1', tube: `t/sub-queue/${id}`, deleted: 2 }] };
      },
      clearTopic: async (topic): Promise<ClearReport> => {
        clears.push(`topic:${topic}`);
        return { deleted: 0, tubes: [] };
      },
    };
    server = new ControlServer({
      subscriptions: admin,
      stats,
      alertSettings: new AlertSettingsStore(redis),
      clearer,
      deadLetters: dead,
      metrics: { contentType: 'text/plain; version=0.0.4', metrics: async () => 'up 1\n' },
      token: 's3cret',
      port: 0,
    });
  });
  afterEach(async () => {
    await server.close();
    await stats.close();
  });

  it('manages subscriptions in Redis-only mode, with zod-checked bodies and coded JSON errors', async () => {
    const created = await server.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      headers: auth,
      payload: { topic: 'order.paid', receptionUri: 'http://w.local/x' },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ id: 1, topic: 'order.paid', enabled: true });
    const bad = await server.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      headers: auth,
      payload: { topic: '', receptionUri: 'x', extra: 1 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('DSP_PUSH_INVALID_ARGUMENT');
    expect(bad.json().error.message).toMatch(/body\.topic/);
    const dup = await server.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      headers: auth,
      payload: { id: 1, topic: 'x', receptionUri: 'http://w.local/y' },
    });
    expect([dup.statusCode, dup.json().error.code]).toEqual([409, 'DSP_PUSH_CONFLICT']);
    const patched = await server.app.inject({
      method: 'PATCH',
      url: '/api/v1/subscriptions/1',
      headers: auth,
      payload: { enabled: false },
    });
    expect(patched.json()).toMatchObject({ id: 1, enabled: false });
    const list = await server.app.inject({ url: '/api/v1/subscriptions', headers: auth });
    expect(list.json()).toMatchObject({ readOnly: false, subscriptions: [{ id: 1 }] });
    expect(
      (await server.app.inject({ method: 'DELETE', url: '/api/v1/subscriptions/1', headers: auth }))
        .statusCode,
    ).toBe(204);
    const gone = await server.app.inject({ url: '/api/v1/subscriptions/1', headers: auth });
    expect([gone.statusCode, gone.json().error.code]).toEqual([404, 'DSP_PUSH_NOT_FOUND']);
    const badId = await server.app.inject({ url: '/api/v1/subscriptions/abc', headers: auth });
    expect(badId.statusCode).toBe(400);
  });

  it('in MySQL mode refuses subscription writes but changes parameters', async () => {
    admin = new MemorySubscriptionAdmin();
    await admin.create({ id: 9, topic: 't', receptionUri: 'http://w.local' });
    const ro = Object.assign(Object.create(admin) as MemorySubscriptionAdmin, { readOnly: true });
    const s = new ControlServer({ subscriptions: ro, token: 's3cret', port: 0 });
    const post = await s.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions',
      headers: auth,
      payload: { topic: 't', receptionUri: 'http://x' },
    });
    expect([post.statusCode, post.json().error.code]).toEqual([409, 'DSP_PUSH_READ_ONLY']);
    const params = await s.app.inject({
      method: 'PATCH',
      url: '/api/v1/subscriptions/9/params',
      headers: auth,
      payload: { Concurrency: 3, AlerterEnabled: 0 },
    });
    expect(params.statusCode).toBe(200);
    expect(params.json()).toMatchObject({ SubscriptionId: 9, Concurrency: 3, AlerterEnabled: false });
    const typo = await s.app.inject({
      method: 'PATCH',
      url: '/api/v1/subscriptions/9/params',
      headers: auth,
      payload: { Concurency: 3 },
    });
    expect(typo.statusCode).toBe(400);
    await s.close();
  });

  it('serves stats, alert settings, clearing and dead letters', async () => {
    await admin.create({ id: 3, topic: 'user.created', receptionUri: 'http://w.local' });
    stats.record({ topic: 'user.created', subscriptionId: 3, ok: true, count: 2 });
    await stats.flush();
    const st = await server.app.inject({ url: '/api/v1/stats/subscriptions/3', headers: auth });
    expect(st.json().windows['1h']).toEqual({ sent: 2, failed: 0 });
    expect(
      (await server.app.inject({ url: '/api/v1/stats/topics/user.created', headers: auth })).json().windows[
        '1d'
      ],
    ).toEqual({
      sent: 2,
      failed: 0,
    });
    const set = await server.app.inject({
      method: 'PATCH',
      url: '/api/v1/alerts/settings',
      headers: auth,
      payload: { DefaultAlarmReceiver: 'ops' },
    });
    expect(set.json()).toMatchObject({ DefaultAlarmReceiver: 'ops' });
    const clear = await server.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions/3/clear',
      headers: auth,
    });
    expect(clear.json()).toMatchObject({ deleted: 2 });
    await server.app.inject({ method: 'POST', url: '/api/v1/topics/user.created/clear', headers: auth });
    expect(clears).toEqual(['sub:3', 'topic:user.created']);
    dead.letters.push({
      id: 'b1/77',
      subscriptionId: 3,
      topic: 'user.created',
      body: { a: 1 },
      retryTimes: 10,
    });
    dead.letters.push({
      id: 'b1/78',
      subscriptionId: 3,
      topic: 'user.created',
      body: { a: 2 },
      retryTimes: 10,
    });
    const list = await server.app.inject({
      url: '/api/v1/subscriptions/3/dead-letters?limit=1',
      headers: auth,
    });
    expect(list.json().deadLetters).toHaveLength(1);
    const redrive = await server.app.inject({
      method: 'POST',
      url: '/api/v1/subscriptions/3/dead-letters/b1%2F77/redrive',
      headers: auth,
      payload: { body: { a: 'fixed' } },
    });
    expect(redrive.statusCode).toBe(202);
    expect(dead.redriven).toEqual([{ id: 'b1/77', edits: { body: { a: 'fixed' } } }]);
    const del = await server.app.inject({
      method: 'DELETE',
      url: '/api/v1/subscriptions/3/dead-letters/b1%2F78',
      headers: auth,
    });
    expect(del.statusCode).toBe(204);
    const again = await server.app.inject({
      method: 'DELETE',
      url: '/api/v1/subscriptions/3/dead-letters/b1%2F78',
      headers: auth,
    });
    expect(again.statusCode).toBe(404);
    const metrics = await server.app.inject({ url: '/metrics', headers: auth });
    expect([metrics.statusCode, metrics.body]).toEqual([200, 'up 1\n']);
  });

  it('needs the bearer token (constant-time compare) and sets security headers on a real listener', async () => {
    const { port } = await server.start();
    const none = await raw(port, 'GET', '/api/v1/subscriptions', { host: `127.0.0.1:${port}` });
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body).error.code).toBe('DSP_PUSH_UNAUTHORIZED');
    const wrong = await raw(port, 'GET', '/api/v1/subscriptions', { ...{ authorization: 'Bearer s3crex' } });
    expect(wrong.status).toBe(401);
    const ok = await raw(port, 'GET', '/api/v1/subscriptions', auth);
    expect(ok.status).toBe(200);
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
    expect(ok.headers['referrer-policy']).toBe('no-referrer');
    expect(ok.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    const csrf = await raw(
      port,
      'POST',
      '/api/v1/topics/x/clear',
      { ...auth, origin: 'http://attacker.example', 'content-type': 'application/json' },
      '{}',
    );
    expect([csrf.status, JSON.parse(csrf.body).error.code]).toEqual([403, 'DSP_PUSH_FORBIDDEN']);
    expect(clears).toEqual([]);
  });

  it('without a token serves loopback only under a loopback or configured Host (DNS rebinding guard)', async () => {
    const open = new ControlServer({ subscriptions: admin, port: 0, hosts: ['gw.internal'] });
    const { port } = await open.start();
    const rebinding = await raw(port, 'GET', '/api/v1/subscriptions', {
      host: 'attacker.example',
      origin: 'http://attacker.example',
    });
    expect([rebinding.status, JSON.parse(rebinding.body).error.code]).toEqual([421, 'DSP_PUSH_MISDIRECTED']);
    const purge = await raw(port, 'POST', '/api/v1/topics/x/clear', {
      host: `attacker.example:${port}`,
      origin: 'http://attacker.example',
    });
    expect(purge.status).toBe(421);
    expect((await raw(port, 'GET', '/api/v1/subscriptions', { host: `localhost:${port}` })).status).toBe(200);
    expect((await raw(port, 'GET', '/api/v1/subscriptions', { host: 'gw.internal' })).status).toBe(200);
    const crossWrite = await raw(port, 'DELETE', '/api/v1/subscriptions/1', {
      host: `localhost:${port}`,
      origin: 'http://evil.example',
    });
    expect(crossWrite.status).toBe(403);
    const sameOrigin = await raw(port, 'DELETE', '/api/v1/subscriptions/1', {
      host: `localhost:${port}`,
      origin: `http://localhost:${port}`,
    });
    expect(sameOrigin.status).toBe(404);
    await open.close();
  });
});
