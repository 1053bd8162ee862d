/**
 * The migration path both ways, with the machine's RabbitMQ: our whole-broker export imports into RabbitMQ
 * with `rabbitmqctl import_definitions`, and RabbitMQ's exports (whole broker and per vhost) import into
 * ours. Everything lives in a vhost (and a user) the test creates and removes on RabbitMQ.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ensureRabbitMQManagement } from '@dispatcher/tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdminHarness, eventually, GUEST, startAdminHarness } from './admin-harness.js';

/**
 * `rabbitmqctl import_definitions` with the JSON on standard input (the server may not see this
 * process's /tmp). The import runs asynchronously on the server: callers poll for its outcome.
 */
function importIntoRabbit(definitions: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('rabbitmqctl', ['import_definitions'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d: Buffer) => (output += d));
    p.stderr.on('data', (d: Buffer) => (output += d));
    p.on('error', reject);
    p.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`rabbitmqctl import_definitions: ${code}: ${output}`)),
    );
    p.stdin.end(JSON.stringify(definitions));
  });
}
// biome-ignore lint/suspicious/noExplicitAny: definitions JSON is read field by field
type Json = any;

const SUFFIX = randomBytes(4).toString('hex');
const TO_RABBIT = `dsp-mig-out-${SUFFIX}`;
const FROM_RABBIT = `dsp-mig-in-${SUFFIX}`;
const USER = `dsp-mig-user-${SUFFIX}`;
/** Created on RabbitMQ only; the whole-broker import must create it in ours. */
const NEW_VHOST = `dsp-mig-new-${SUFFIX}`;

let rabbit: string;
const rabbitApi = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${rabbit}${path}`, {
    method,
    headers: { authorization: GUEST, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as Json) };
};

let h: AdminHarness;
const ours = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${h.baseUrl}${path}`, {
    method,
    headers: { authorization: GUEST, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as Json) };
};

beforeAll(async () => {
  rabbit = (await ensureRabbitMQManagement()).managementUrl;
}, 180_000);

afterAll(async () => {
  for (const v of [TO_RABBIT, FROM_RABBIT, NEW_VHOST])
    await rabbitApi('DELETE', `/api/vhosts/${encodeURIComponent(v)}`);
  await rabbitApi('DELETE', `/api/users/${encodeURIComponent(USER)}`);
  await h?.close();
});

/** Objects of a per-vhost export, in a stable order. */
function objects(defs: { queues: Json[]; exchanges: Json[]; bindings: Json[] }) {
  const by = (a: Json, b: Json) => JSON.stringify(a).localeCompare(JSON.stringify(b));
  const strip = ({ vhost: _v, ...rest }: Json) => rest;
  return {
    queues: defs.queues.map(strip).sort(by),
    exchanges: defs.exchanges.map(strip).sort(by),
    bindings: defs.bindings.map(strip).sort(by),
  };
}

describe('definitions: dispatchd ⇄ RabbitMQ', () => {
  it('our whole-broker export imports into RabbitMQ with rabbitmqctl import_definitions', async () => {
    h = await startAdminHarness({
      vhosts: [TO_RABBIT, FROM_RABBIT],
      users: {
        [USER]: { password: 'secret-pw', tags: ['administrator'] },
        guest: { password: 'guest', tags: ['administrator'] },
      },
    });
    const v = encodeURIComponent(TO_RABBIT);
    const auth = {
      authorization: `Basic ${Buffer.from(`${USER}:secret-pw`).toString('base64')}`,
      'content-type': 'application/json',
    };
    const put = (path: string, body: unknown, method = 'PUT') =>
      fetch(`${h.baseUrl}${path}`, { method, headers: auth, body: JSON.stringify(body) });
    expect(
      (
        await put(`/api/exchanges/${v}/mig-x`, {
          type: 'topic',
          durable: true,
          arguments: { 'alternate-exchange': 'amq.fanout' },
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await put(`/api/queues/${v}/mig-q`, {
          durable: true,
          arguments: { 'x-max-length': 100, 'x-queue-type': 'classic' },
        })
      ).status,
    ).toBe(201);
    expect(
      (await put(`/api/bindings/${v}/e/mig-x/q/mig-q`, { routing_key: 'a.#', arguments: {} }, 'POST')).status,
    ).toBe(201);
    const exported = (await (await fetch(`${h.baseUrl}/api/definitions`, { headers: auth })).json()) as Json;
    // Only the vhost meant for RabbitMQ goes there (the other one is RabbitMQ → ours below).
    exported.vhosts = exported.vhosts.filter((x: { name: string }) => x.name === TO_RABBIT);
    exported.permissions = exported.permissions.filter((p: { vhost: string }) => p.vhost === TO_RABBIT);
    // RabbitMQ's guest is RabbitMQ's own business.
    exported.users = exported.users.filter((u: { name: string }) => u.name === USER);
    exported.permissions = exported.permissions.filter((p: { user: string }) => p.user === USER);
    await importIntoRabbit(exported);

    const expected = objects((await ours('GET', `/api/definitions/${v}`)).json);
    const theirs = await eventually(async () => {
      const r = await rabbitApi('GET', `/api/definitions/${v}`);
      return r.status === 200 && r.json.bindings.length === expected.bindings.length ? r.json : undefined;
    }, 60_000);
    expect(objects(theirs)).toEqual(expected);
    // The user came along with its password hash: it can log in to RabbitMQ's API with the same password.
    const login = await eventually(async () => {
      const r = await fetch(`${rabbit}/api/whoami`, { headers: { authorization: auth.authorization } });
      return r.status === 200 ? r : undefined;
    }, 60_000);
    expect(login.status).toBe(200);
    expect(await login.json()).toMatchObject({ name: USER, tags: ['administrator'] });
  }, 180_000);

  it('RabbitMQ’s per-vhost and whole-broker exports import into ours', async () => {
    const v = encodeURIComponent(FROM_RABBIT);
    expect((await rabbitApi('PUT', `/api/vhosts/${v}`)).status).toBe(201);
    await rabbitApi('PUT', `/api/permissions/${v}/guest`, { configure: '.*', write: '.*', read: '.*' });
    await rabbitApi('PUT', `/api/exchanges/${v}/in-x`, { type: 'headers', durable: true, arguments: {} });
    await rabbitApi('PUT', `/api/exchanges/${v}/in-x2`, {
      type: 'fanout',
      durable: true,
      internal: true,
      arguments: {},
    });
    await rabbitApi('PUT', `/api/queues/${v}/in-q`, {
      durable: true,
      arguments: { 'x-message-ttl': 60000, 'x-dead-letter-exchange': 'in-x2' },
    });
    await rabbitApi('POST', `/api/bindings/${v}/e/in-x/q/in-q`, {
      routing_key: '',
      arguments: { 'x-match': 'all', kind: 'a' },
    });
    await rabbitApi('POST', `/api/bindings/${v}/e/in-x/e/in-x2`, { routing_key: 'k', arguments: {} });
    const perVhost = (await rabbitApi('GET', `/api/definitions/${v}`)).json;
    expect((await ours('POST', `/api/definitions/${v}`, perVhost)).status).toBe(204);
    const mine = (await ours('GET', `/api/definitions/${v}`)).json;
    expect(objects(mine)).toEqual(objects(perVhost));

    // The whole-broker export, reduced to this vhost (ours does not create vhosts), imports as well and
    // is idempotent: the same objects again change nothing.
    const whole = (await rabbitApi('GET', '/api/definitions')).json;
    const only = (list: { vhost?: string }[]) => list.filter((x) => x.vhost === FROM_RABBIT);
    const reduced = {
      ...whole,
      vhosts: [{ name: FROM_RABBIT }],
      users: [],
      permissions: [],
      queues: only(whole.queues),
      exchanges: only(whole.exchanges),
      bindings: only(whole.bindings),
    };
    expect((await ours('POST', '/api/definitions', reduced)).status).toBe(204);
    expect(objects((await ours('GET', `/api/definitions/${v}`)).json)).toEqual(objects(perVhost));
  }, 180_000);

  it('RabbitMQ’s whole-broker export creates its vhosts, users (hash as given) and permissions in ours', async () => {
    const v = encodeURIComponent(NEW_VHOST);
    const u = encodeURIComponent(USER);
    expect((await rabbitApi('PUT', `/api/vhosts/${v}`)).status).toBe(201);
    expect([201, 204]).toContain(
      (await rabbitApi('PUT', `/api/users/${u}`, { password: 'mig-pw', tags: 'management' })).status,
    );
    const perm = { configure: '^mig', write: '.*', read: '' };
    await rabbitApi('PUT', `/api/permissions/${v}/${u}`, perm);
    const whole = (await rabbitApi('GET', '/api/definitions')).json;
    const user = whole.users.find((x: { name: string }) => x.name === USER);
    expect(user.hashing_algorithm).toBe('rabbit_password_hashing_sha256');
    const reduced = {
      ...whole,
      vhosts: [{ name: NEW_VHOST }],
      users: [user],
      permissions: whole.permissions.filter((p: { user: string }) => p.user === USER),
      queues: [],
      exchanges: [],
      bindings: [],
    };
    expect(h.broker.vhostNames()).not.toContain(NEW_VHOST);
    expect((await ours('POST', '/api/definitions', reduced)).status).toBe(204);
    expect(h.broker.vhostNames()).toContain(NEW_VHOST);
    expect(h.broker.users.get(USER)).toMatchObject({
      passwordHash: user.password_hash,
      tags: ['management'],
    });
    expect((await ours('GET', `/api/permissions/${v}/${u}`)).json).toEqual({
      user: USER,
      vhost: NEW_VHOST,
      ...perm,
    });
    // The password set on RabbitMQ logs in to ours, and the user sees the imported vhost as its own.
    const asUser = { authorization: `Basic ${Buffer.from(`${USER}:mig-pw`).toString('base64')}` };
    const vhosts = await fetch(`${h.baseUrl}/api/vhosts`, { headers: asUser });
    expect(vhosts.status).toBe(200);
    const names = ((await vhosts.json()) as { name: string }[]).map((x) => x.name);
    expect(names).toContain(NEW_VHOST);
    expect(names.sort()).toEqual(
      h.broker.permissions
        .list({ user: USER })
        .map((p) => p.vhost)
        .sort(),
    );
  }, 180_000);
});
