/**
 * POST /api/users/bulk-delete ({"users": [...]}), on RabbitMQ (the machine's, with users and a vhost this test
 * creates and removes) and on ours alike: administrators only; the users go one by one, stopping at the
 * first that does not exist (400 `["no_such_user", name]`, the earlier ones stay deleted); a body without
 * `users` is 400; other methods 405. Deleted users' connections are closed with 320.
 */
import { randomBytes } from 'node:crypto';
import type { ChannelModel } from 'amqplib';
import { afterAll, expect } from 'vitest';
import { managementApi } from '../helpers/management-api.js';
import { amqpUrlFor, trackedConnection } from '../helpers/tracked-connection.js';
import { managementSuite } from './management-suite.js';
import type { ManagementTarget as Target } from './management-targets.js';

const SUFFIX = randomBytes(4).toString('hex');
const VHOST = `dsp-bulk-vh-${SUFFIX}`;
const PASSWORD = randomBytes(12).toString('base64url');
const V = encodeURIComponent(VHOST);
const user = (n: number) => `dsp-bulk-${n}-${SUFFIX}`;
const MANAGER = `dsp-bulk-manager-${SUFFIX}`;
const MISSING = `dsp-bulk-missing-${SUFFIX}`;
const USERS = [1, 2, 3, 4, 5].map(user);

const open: ChannelModel[] = [];

async function setUp(t: Target): Promise<void> {
  expect((await t.api.call('PUT', `vhosts/${V}`, {})).status).toBe(201);
  for (const [name, tags] of [...USERS.map((u) => [u, ''] as const), [MANAGER, 'management'] as const]) {
    expect((await t.api.call('PUT', `users/${name}`, { password: PASSWORD, tags })).status).toBe(201);
    const all = { configure: '.*', write: '.*', read: '.*' };
    expect((await t.api.call('PUT', `permissions/${V}/${name}`, all)).status).toBe(201);
  }
}

async function tearDown(t: Target): Promise<void> {
  for (const name of [...USERS, MANAGER]) await t.api.call('DELETE', `users/${name}`).catch(() => {});
  await t.api.call('DELETE', `vhosts/${V}`).catch(() => {});
}

afterAll(async () => {
  for (const c of open) await c.close().catch(() => {});
});

async function exists(t: Target, name: string): Promise<boolean> {
  return (await t.api.call('GET', `users/${name}`)).status === 200;
}

managementSuite(
  'POST /api/users/bulk-delete, as RabbitMQ',
  {
    'answers and deletes as RabbitMQ: refusals, bad bodies, partial deletes, 405 for other methods': async (
      t,
    ) => {
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
      expect(out).toContainEqual([204, undefined]);
      return out;
    },

    "closes the deleted users' connections with 320; other users' stay open": async (t) => {
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
    },
  },
  { concurrent: false, setupTimeoutMs: 180_000, prepare: setUp, cleanup: tearDown },
);
