/**
 * Deleting a user or a vhost through the management API closes the connections it had open, on RabbitMQ
 * (the machine's, with a user and a vhost this test creates and removes) and on ours alike: connection.close
 * 320 CONNECTION_FORCED with RabbitMQ's text. Connections of other users and vhosts stay open.
 */
import { randomBytes } from 'node:crypto';
import type { ChannelModel } from 'amqplib';
import { afterAll, expect } from 'vitest';
import { amqpUrlFor, trackedConnection } from '../helpers/tracked-connection.js';
import { managementSuite } from './management-suite.js';
import type { ManagementTarget as Target } from './management-targets.js';

const SUFFIX = randomBytes(4).toString('hex');
const VHOST = `dsp-del-vh-${SUFFIX}`;
const KEEP = `dsp-del-keep-${SUFFIX}`;
const USER = `dsp-del-user-${SUFFIX}`;
const PASSWORD = randomBytes(12).toString('base64url');

const open: ChannelModel[] = [];

/** Connects as `user` to `vhost`; resolves the close reason (or 'still open') when asked. */
async function connect(t: Target, user: string, password: string, vhost: string) {
  const { conn, reason } = await trackedConnection(amqpUrlFor(t.amqpBase, user, password, vhost));
  open.push(conn);
  return {
    /** The close error once it came (polled: RabbitMQ closes asynchronously after answering the DELETE). */
    closed: () => expect.poll(reason, { timeout: 30_000, interval: 50 }),
    isOpen: () => reason() === undefined,
  };
}

async function setUp(t: Target): Promise<void> {
  for (const vh of [VHOST, KEEP]) expect((await t.api.call('PUT', `vhosts/${vh}`, {})).status).toBe(201);
  expect((await t.api.call('PUT', `users/${USER}`, { password: PASSWORD, tags: '' })).status).toBe(201);
  const all = { configure: '.*', write: '.*', read: '.*' };
  for (const vh of [VHOST, KEEP]) {
    expect((await t.api.call('PUT', `permissions/${vh}/${USER}`, all)).status).toBe(201);
    // The creator (guest) already has full permissions on a vhost it made: 204.
    expect((await t.api.call('PUT', `permissions/${vh}/guest`, all)).status).toBeLessThan(300);
  }
}

async function tearDown(t: Target): Promise<void> {
  await t.api.call('DELETE', `users/${USER}`).catch(() => {});
  for (const vh of [VHOST, KEEP]) await t.api.call('DELETE', `vhosts/${vh}`).catch(() => {});
}

afterAll(async () => {
  for (const c of open) await c.close().catch(() => {});
});

managementSuite(
  'deleting closes connections, as RabbitMQ',
  {
    'DELETE /api/users/{name} closes every connection of that user with 320, others stay': async (t) => {
      const first = await connect(t, USER, PASSWORD, VHOST);
      const second = await connect(t, USER, PASSWORD, KEEP);
      const other = await connect(t, 'guest', 'guest', KEEP);
      expect((await t.api.call('DELETE', `users/${USER}`)).status).toBe(204);
      const text = `320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - user '${USER}' is deleted"`;
      await first.closed().toContain(text);
      await second.closed().toContain(text);
      expect(other.isOpen()).toBe(true);
      // Logging in again is refused: the user is gone.
      await expect(connect(t, USER, PASSWORD, KEEP)).rejects.toThrow(/ACCESS_REFUSED|403/);
      if (t.harness) expect(t.harness.broker.connections().filter((c) => c.user === USER)).toEqual([]);
    },

    'DELETE /api/vhosts/{name} closes the connections on that vhost with 320, others stay': async (t) => {
      const on = await connect(t, 'guest', 'guest', VHOST);
      const other = await connect(t, 'guest', 'guest', KEEP);
      expect((await t.api.call('DELETE', `vhosts/${VHOST}`)).status).toBe(204);
      // RabbitMQ races two closers, the deletion ("is deleted", what we send) and the vhost's supervisor
      // stopping ("is down"); both are 320 naming the vhost.
      const expected = new RegExp(
        `320 \\(CONNECTION-FORCED\\) with message "CONNECTION_FORCED - vhost '${VHOST}' is ${t.name === 'dispatcher' ? 'deleted' : '(deleted|down)'}"`,
      );
      await on.closed().toMatch(expected);
      expect(other.isOpen()).toBe(true);
    },
  },
  { concurrent: false, setupTimeoutMs: 180_000, prepare: setUp, cleanup: tearDown },
);
