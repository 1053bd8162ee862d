/**
 * Topic permissions, on RabbitMQ (the machine's, with a user and vhost this test creates and removes) and
 * on ours alike: the management API's answers (/api/topic-permissions…), and what they do to AMQP clients —
 * a publish to a topic exchange whose routing key the `write` expression refuses closes the channel 403,
 * a binding from it whose key the `read` expression refuses is refused 403, other exchanges are not limited,
 * `{username}` is expanded. Ours also keeps them across a restart (persistDir) and in the definitions export.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp, { type ConfirmChannel } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { BrokerServer } from '../../src/index.js';
import { managementApi } from '../helpers/management-api.js';
import { amqpUrlFor } from '../helpers/tracked-connection.js';
import { startAdminHarness } from './admin-harness.js';
import { managementSuite, type ManagementSide as Target } from './management-suite.js';

const SUFFIX = randomBytes(4).toString('hex');
const VHOST = `dsp-topic-vh-${SUFFIX}`;
const USER = `dsp-topic-${SUFFIX}`;
const PASSWORD = randomBytes(12).toString('base64url');
const V = encodeURIComponent(VHOST);

async function setUp(t: Pick<Target, 'api'>): Promise<void> {
  expect((await t.api.call('PUT', `vhosts/${V}`, {})).status).toBe(201);
  expect((await t.api.call('PUT', `users/${USER}`, { password: PASSWORD, tags: '' })).status).toBe(201);
  const all = { configure: '.*', write: '.*', read: '.*' };
  expect((await t.api.call('PUT', `permissions/${V}/${USER}`, all)).status).toBe(201);
}

async function tearDown(t: Target): Promise<void> {
  await t.api.call('DELETE', `users/${USER}`).catch(() => {});
  await t.api.call('DELETE', `vhosts/${V}`).catch(() => {});
}

/** Runs `f` on a fresh confirm channel; resolves 'ok' or the channel's close reason. */
async function attempt(t: Target, f: (ch: ConfirmChannel) => Promise<unknown>): Promise<string> {
  const conn = await amqp.connect(amqpUrlFor(t.amqpBase, USER, PASSWORD, VHOST));
  conn.on('error', () => {});
  try {
    const ch = await conn.createConfirmChannel();
    let closedWith: string | undefined;
    ch.on('error', (err: Error) => {
      closedWith = err.message;
    });
    try {
      await f(ch);
      await ch.close();
      return 'ok';
    } catch (err) {
      // A refused publish closes the channel; the confirm wait then fails without the reason.
      return closedWith ?? (err as Error).message;
    }
  } finally {
    await conn.close().catch(() => {});
  }
}

managementSuite(
  'topic permissions, as RabbitMQ',
  {
    'the management API: put, list, read, delete, errors': async (t) => {
      const out: unknown[] = [];
      const put = async (body: unknown) => {
        const res = await t.api.call('PUT', `topic-permissions/${V}/${USER}`, body);
        out.push([res.status, res.body]);
      };
      await put({ exchange: 'amq.topic', write: '^a\\.{username}\\.', read: '^r\\.' });
      await put({ exchange: 'amq.topic', write: '^a\\.{username}\\.', read: '^r\\.' });
      await put({ exchange: 'amq.direct', write: '', read: '' });
      await put({ write: 'x' });
      const missingUser = await t.api.call('PUT', `topic-permissions/${V}/nobody-${SUFFIX}`, {
        exchange: 'x',
        write: '',
        read: '',
      });
      out.push(missingUser.status);
      // RabbitMQ lists them in its table's order (not sorted): compare as sets.
      const strip = (body: unknown) =>
        (body as Record<string, string>[])
          .map(({ user, vhost, exchange, write, read }) => ({
            user: user === USER,
            vhost: vhost === VHOST,
            exchange,
            write,
            read,
          }))
          .sort((a, b) => (a.exchange ?? '').localeCompare(b.exchange ?? ''));
      const mine = await t.api.call('GET', `topic-permissions/${V}/${USER}`);
      out.push(mine.status, strip(mine.body));
      const all = await t.api.call('GET', 'topic-permissions');
      out.push(strip((all.body as { vhost: string }[]).filter((p) => p.vhost === VHOST)));
      out.push(strip((await t.api.call('GET', `users/${USER}/topic-permissions`)).body));
      out.push(strip((await t.api.call('GET', `vhosts/${V}/topic-permissions`)).body));
      out.push((await t.api.call('GET', `topic-permissions/${V}/nobody-${SUFFIX}`)).status);
      return out;
    },

    'AMQP: publishes and bindings on a topic exchange follow the expressions; other exchanges do not': async (
      t,
    ) => {
      const publish = (exchange: string, key: string) =>
        attempt(t, async (ch) => {
          ch.publish(exchange, key, Buffer.from('x'));
          await ch.waitForConfirms();
        });
      const bind = (key: string, how: 'bind' | 'unbind' | 'exchange' = 'bind') =>
        attempt(t, async (ch) => {
          if (how === 'exchange') {
            await ch.assertExchange('topic-perm-dest', 'fanout', { autoDelete: true });
            return ch.bindExchange('topic-perm-dest', 'amq.topic', key);
          }
          const q = await ch.assertQueue('', { exclusive: true });
          return how === 'bind'
            ? ch.bindQueue(q.queue, 'amq.topic', key)
            : ch.unbindQueue(q.queue, 'amq.topic', key);
        });
      const name = (s: string) => s.replaceAll(USER, '<user>').replaceAll(VHOST, '<vhost>');
      return [
        await publish('amq.topic', `a.${USER}.x`),
        name(await publish('amq.topic', 'b.x')),
        name(await publish('amq.topic', 'a.someone-else.x')),
        // A topic permission on a direct exchange limits nothing; another topic exchange has none.
        await publish('amq.direct', 'b.x'),
        await publish('amq.match', 'b.x'),
        await bind('r.1'),
        name(await bind('z.1')),
        name(await bind('z.1', 'unbind')),
        name(await bind('z.1', 'exchange')),
      ];
    },

    'deleting them lifts the limits; deleting again is 404': async (t) => {
      const first = (await t.api.call('DELETE', `topic-permissions/${V}/${USER}`)).status;
      const again = (await t.api.call('DELETE', `topic-permissions/${V}/${USER}`)).status;
      const published = await attempt(t, async (ch) => {
        ch.publish('amq.topic', 'b.x', Buffer.from('x'));
        await ch.waitForConfirms();
      });
      return [first, again, published];
    },
  },
  { concurrent: false, setupTimeoutMs: 180_000, prepare: setUp, cleanup: tearDown },
);

describe('topic permissions on ours: persistence and definitions', () => {
  it('survive a restart with persistDir, go with their user, and appear in the definitions export', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dsp-topic-perm-'));
    try {
      const first = new BrokerServer({ port: 0, persistDir: dir, users: { guest: 'guest', bob: 'pw' } });
      await first.start();
      first.topicPermissions.put({
        user: 'bob',
        vhost: '/',
        exchange: 'amq.topic',
        write: '^bob\\.',
        read: '',
      });
      first.topicPermissions.put({
        user: 'guest',
        vhost: '/',
        exchange: 'amq.topic',
        write: '^g',
        read: '^g',
      });
      await first.flushDefinitions();
      await first.close();
      const second = new BrokerServer({ port: 0, persistDir: dir, users: { guest: 'guest', bob: 'pw' } });
      await second.start();
      try {
        expect(second.topicPermissions.list().map((p) => [p.user, p.write, p.read])).toEqual([
          ['bob', '^bob\\.', ''],
          ['guest', '^g', '^g'],
        ]);
        expect(await second.deleteUser('bob')).toBe(true);
        expect(second.topicPermissions.list().map((p) => p.user)).toEqual(['guest']);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const h = await startAdminHarness();
    try {
      const ours = { api: managementApi(h.baseUrl, 'guest', 'guest') };
      await setUp(ours);
      const put = await ours.api.call('PUT', `topic-permissions/${V}/${USER}`, {
        exchange: 'amq.topic',
        write: '^w',
        read: '^r',
      });
      expect(put.status).toBe(201);
      const defs = (await ours.api.call('GET', 'definitions')).body as { topic_permissions: unknown[] };
      expect(defs.topic_permissions).toContainEqual({
        user: USER,
        vhost: VHOST,
        exchange: 'amq.topic',
        write: '^w',
        read: '^r',
      });
    } finally {
      await h.close();
    }
  });
});
