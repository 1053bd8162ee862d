/**
 * POST /api/users/bulk-delete ({"users": [...]}), on RabbitMQ (the machine's, with users and a vhost this test
 * creates and removes) and on ours alike: administrators only; the users go one by one, stopping at the
 * first that does not exist (400 `["no_such_user", name]`, the earlier ones stay deleted); a body without
 * `users` is 400; other methods 405. Deleted users' connections are closed with 320.
 */
import { randomBytes } from 'node:crypto';
import type { ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { managementApi } from '../helpers/management-api.js';
import { amqpUrlFor, trackedConnection } from '../helpers/tracked-connection.js';
import type { AdminHarness } from './admin-harness.js';
import { managementTargets, type ManagementTarget as Target } from './management-targets.js';

const SUFFIX = randomBytes(4).toString('hex');
const VHOST = `dsp-bulk-vh-${SUFFIX}`;
const PASSWORD = randomBytes(12).toString('base64url');
const V = encodeURIComponent(VHOST);
const user = (n: number) => `dsp-bulk-${n}-${SUFFIX}`;
const MANAGER = `dsp-bulk-manager-${SUFFIX}`;
const MISSING = `dsp-bulk-missing-${SUFFIX}`;
const USERS = [1, 2, 3, 4, 5].map(user);

let h: AdminHarness;
let rabbit: Target;
let ours: Target;
const open: ChannelModel[] = [];

async function setUp(t: Target): Promise<void> {
  expect((await t.api.call('PUT', `vhosts/${V}`, {})).status).toBe(201);
  for (const [name, tags] of [...USERS.map((u) => [u, ''] as const), [MANAGER, 'management'] as const]) {
    expect((await t.api.call('PUT', `users/${name}`, { password: PASSWORD, tags })).status).toBe(201);
    const all = { configure: '.*', write: '.*', read: '.*' };
    expect((await t.api.call('PUT', `permissions/${V}/${name}`, all)).status).toBe(201);
  }
}

beforeAll(async () => {
  ({ rabbit, ours, harness: h } = await managementTargets());
  await setUp(rabbit);
  await setUp(ours);
}, 180_000);

afterAll(async () => {
  for (const c of open) await c.close().catch(() => {});
  for (const t of [rabbit, ours]) {
    if (t === undefined) continue;
    for (const name of [...USERS, MANAGER]) await t.api.call('DELETE', `users/${name}`).catch(() => {});
    await t.api.call('DELETE', `vhosts/${V}`).catch(() => {});
  }
  await h?.close();
});

async function exists(t: Target, name: string): Promise<boolean> {
  return (await t.api.call('GET', `users/${name}`)).status === 200;
}

describe.skipIf(!inject('rabbitmqReachable'))('POST /api/users/bulk-delete, as RabbitMQ', () => {
  it('answers and deletes as RabbitMQ: refusals, bad bodies, partial deletes, 405 for other methods', async () => {
    const run = async (t: Target) => {
      const out: unknown[] = [];
      const bulk = async (body: unknown, api = t.api) => {
        const res = await api.call('POST', 'users/bulk-delete', body);
        out.push([res.status, res.body]);
      };
      await bulk({ users: [user(1)] }, managementApi(t.api.baseUrl, MANAGER, PASSWORD));
      out.push(await exists(t, user(1)));
      await bulk(undefined);
      await bulk({});
      await bulk({ users: [] });
      // Stops at the first missing user: 1 goes, 2 stays; then the missing one first: 2 stays.
      await bulk({ users: [user(1), MISSING, user(2)] });
      out.push(await exists(t, user(1)), await exists(t, user(2)));
      await bulk({ users: [MISSING, user(2)] });
      out.push(await exists(t, user(2)));
      // A name twice: the second is the missing one.
      await bulk({ users: [user(2), user(2), user(3)] });
      out.push(await exists(t, user(2)), await exists(t, user(3)));
      await bulk({ users: [7] });
      for (const method of ['GET', 'PUT', 'DELETE']) {
        out.push((await t.api.call(method, 'users/bulk-delete', method === 'PUT' ? {} : undefined)).status);
      }
      return out;
    };
    const a = await run(rabbit);
    expect(await run(ours)).toEqual(a);
    expect(a).toContainEqual([204, undefined]);
  });

  it("closes the deleted users' connections with 320; other users' stay open", async () => {
    for (const t of [rabbit, ours]) {
      const connect = async (name: string) => {
        const { conn, reason } = await trackedConnection(amqpUrlFor(t.amqpBase, name, PASSWORD, VHOST));
        open.push(conn);
        return reason;
      };
      const fourth = await connect(user(4));
      const fifth = await connect(user(5));
      const other = await connect(MANAGER);
      expect((await t.api.call('POST', 'users/bulk-delete', { users: [user(4), user(5)] })).status).toBe(204);
      for (const [closed, name] of [
        [fourth, user(4)],
        [fifth, user(5)],
      ] as const) {
        await expect
          .poll(closed, { timeout: 30_000, interval: 50 })
          .toContain(`320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - user '${name}' is deleted"`);
      }
      expect(other()).toBeUndefined();
      expect(await exists(t, user(4))).toBe(false);
    }
  });
});
