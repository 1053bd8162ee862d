/**
 * Connection and queue limits against RabbitMQ. RabbitMQ's limits are per vhost (`rabbitmqctl
 * set_vhost_limits` on a vhost made for the test and deleted after it); ours are `maxQueuesPerVhost` and
 * `maxConnections` (broker-wide, answered with the text of RabbitMQ's vhost connection limit: its node-wide
 * `connection_max` answers nothing, it stops accepting sockets). What amqplib sees must be equal. The
 * suite's own connection is one of the LIMIT connections on both.
 */

import { rabbitmqctl } from '@dispatcher/tooling';
import amqp from 'amqplib';
import { expect } from 'vitest';
import type { AmqpMethod, MethodId } from '../src/codec/generated/amqp-spec.js';
import { closedWith } from './helpers/amqp-helpers.js';
import { type DifferentialScenario, differentialSuite } from './helpers/differential-suite.js';
import { RawClient } from './helpers/raw-client.js';
import { uniqueName } from './helpers/targets.js';

const LIMIT = 2;

/** The vhost a scenario's URL names ('/' when it names none). */
const vhostOf = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1)) || '/';

/** Declares LIMIT + 1 queues: what the last declare gets, and whether the first ones worked. */
const queueLimit: DifferentialScenario = async ({ conn, url }) => {
  const ch = await conn.createChannel();
  const names: string[] = [];
  for (let i = 0; i < LIMIT; i++) names.push((await ch.assertQueue(uniqueName(`limit-${i}`))).queue);
  // A redeclare of an existing queue is not limited.
  await ch.assertQueue(names[0]!);
  const closed = closedWith(ch);
  const extra = uniqueName('limit-extra');
  const error = await ch.assertQueue(extra).then(
    () => undefined,
    (err: Error) => err.message,
  );
  const code = await closed;
  const ch2 = await conn.createChannel();
  for (const name of names) await ch2.deleteQueue(name);
  // Room again once one is gone.
  const again = await ch2.assertQueue(extra).then(() => 'declared');
  await ch2.deleteQueue(extra);
  return {
    code,
    error: error?.replace(extra, '<extra>').replaceAll(vhostOf(url), '<vhost>'),
    again,
  };
};

/**
 * With the suite's connection, LIMIT connections open; then one more with the raw client: the
 * connection.close it gets (amqplib's handshake error leaves the text out). Then, one closed, there is room
 * again.
 */
const connectionLimit: DifferentialScenario = async ({ url }) => {
  const u = new URL(url);
  const vhost = vhostOf(url);
  const open = [];
  const raw = await RawClient.connect(Number(u.port || 5672), u.hostname);
  try {
    for (let i = 1; i < LIMIT; i++) open.push(await amqp.connect(url));
    raw.handshake({ vhost }).catch(() => undefined);
    await raw.until(() => raw.closeMethod() !== undefined, 5000, 'connection.close');
    const close = raw.closeMethod() as Extract<AmqpMethod, { id: typeof MethodId.ConnectionClose }>;
    await open.pop()!.close();
    open.push(await amqp.connect(url));
    return {
      refused: [close.replyCode, close.replyText.replaceAll(vhost, '<vhost>'), close.classId, close.methodId],
      again: 'connected',
    };
  } finally {
    raw.close();
    for (const c of open) await c.close().catch(() => undefined);
  }
};

const QUEUES = 'one queue past the limit: 406 with RabbitMQ’s text; room again after a delete';
const CONNECTIONS =
  'one connection past the limit: connection.close 530 with RabbitMQ’s text; room again after a close';

/** RabbitMQ's vhost made for the suite (deleted after it). */
let rabbitVhost: string | undefined;

differentialSuite(
  'connection and queue limits',
  { [QUEUES]: queueLimit, [CONNECTIONS]: connectionLimit },
  (server) => {
    expect(server.connections()).toEqual([]);
  },
  {
    // One scenario at a time: our connection limit is broker-wide.
    concurrent: false,
    broker: { maxConnections: LIMIT, maxQueuesPerVhost: LIMIT },
    prepare: async ({ url, side }) => {
      if (side.name === 'dispatcher') return undefined;
      rabbitVhost = uniqueName('vhost-limits');
      await rabbitmqctl('add_vhost', rabbitVhost);
      await rabbitmqctl('set_permissions', '-p', rabbitVhost, 'guest', '.*', '.*', '.*');
      const limits = { 'max-queues': LIMIT, 'max-connections': LIMIT };
      await rabbitmqctl('set_vhost_limits', '-p', rabbitVhost, JSON.stringify(limits));
      const u = new URL(url);
      u.pathname = `/${encodeURIComponent(rabbitVhost)}`;
      return u.toString();
    },
    cleanup: async ({ side }) => {
      if (side.name === 'rabbitmq' && rabbitVhost !== undefined)
        await rabbitmqctl('delete_vhost', rabbitVhost);
    },
    expected: {
      [QUEUES]: {
        code: 406,
        error: expect.stringContaining(
          "PRECONDITION_FAILED - cannot declare queue '<extra>': queue limit in vhost '<vhost>' (2) is reached",
        ),
        again: 'declared',
      },
      [CONNECTIONS]: {
        refused: [
          530,
          "NOT_ALLOWED - access to vhost '<vhost>' refused for user 'guest': connection limit (2) is reached",
          10,
          40,
        ],
        again: 'connected',
      },
    },
  },
);
