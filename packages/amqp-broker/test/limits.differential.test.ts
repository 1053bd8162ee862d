/**
 * Connection and queue limits against RabbitMQ. RabbitMQ's limits are per vhost (`rabbitmqctl
 * set_vhost_limits` on a vhost made for the test and deleted after it); ours are `maxQueuesPerVhost` and
 * `maxConnections` (broker-wide, answered with the text of RabbitMQ's vhost connection limit: its node-wide
 * `connection_max` answers nothing, it stops accepting sockets). What amqplib sees must be equal.
 */

import { withRabbitmqVhost } from '@dispatcher/tooling';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AmqpMethod, MethodId } from '../src/codec/generated/amqp-spec.js';
import type { BrokerServer } from '../src/index.js';
import { closedWith } from './helpers/amqp-helpers.js';
import { RawClient } from './helpers/raw-client.js';
import { startBroker, type Target, uniqueName } from './helpers/targets.js';

const LIMIT = 2;

/** Declares LIMIT + 1 queues on `url`: what the last declare gets, and whether the first ones worked. */
async function queueLimitScenario(url: string, vhostLabel: string): Promise<unknown> {
  const conn = await amqp.connect(url);
  try {
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
      error: error?.replace(extra, '<extra>').replaceAll(vhostLabel, '<vhost>'),
      again,
    };
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/**
 * Opens LIMIT connections to `vhost`, then one more with the raw client: the connection.close it gets
 * (amqplib's handshake error leaves the text out). Then, one closed, there is room again.
 */
async function connectionLimitScenario(url: string, port: number, vhost: string): Promise<unknown> {
  const open = [];
  const raw = await RawClient.connect(port);
  try {
    for (let i = 0; i < LIMIT; i++) open.push(await amqp.connect(url));
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
}

/** Runs `scenario` on RabbitMQ in a vhost of its own with `limits` (deleted after). */
function onRabbitVhost(
  limits: Readonly<Record<string, number>>,
  scenario: (url: string, port: number, vhost: string) => Promise<unknown>,
): Promise<unknown> {
  const vhost = uniqueName('vhost-limits');
  const url = new URL(inject('rabbitmqUrl'));
  url.pathname = `/${encodeURIComponent(vhost)}`;
  return withRabbitmqVhost(vhost, limits, () => scenario(url.toString(), Number(url.port || 5672), vhost));
}

describe('connection and queue limits', () => {
  let server: BrokerServer;
  let ours: Target;
  const rabbitUp = inject('rabbitmqReachable');
  beforeAll(async () => {
    ({ server, target: ours } = await startBroker({ maxConnections: LIMIT, maxQueuesPerVhost: LIMIT }));
  });
  afterAll(async () => {
    await server.close();
  });

  it('one queue past the limit: 406 with RabbitMQ’s text; room again after a delete', async () => {
    const mine = await queueLimitScenario(ours.url, '/');
    expect(mine).toEqual({
      code: 406,
      error: expect.stringContaining(
        "PRECONDITION_FAILED - cannot declare queue '<extra>': queue limit in vhost '<vhost>' (2) is reached",
      ),
      again: 'declared',
    });
    if (!rabbitUp) return;
    expect(mine).toEqual(
      await onRabbitVhost({ 'max-queues': LIMIT }, (url, _port, vhost) => queueLimitScenario(url, vhost)),
    );
  });

  it('one connection past the limit: connection.close 530 with RabbitMQ’s text; room again after a close', async () => {
    const mine = await connectionLimitScenario(ours.url, ours.port, '/');
    expect(mine).toEqual({
      refused: [
        530,
        "NOT_ALLOWED - access to vhost '<vhost>' refused for user 'guest': connection limit (2) is reached",
        10,
        40,
      ],
      again: 'connected',
    });
    if (!rabbitUp) return;
    expect(mine).toEqual(await onRabbitVhost({ 'max-connections': LIMIT }, connectionLimitScenario));
  });
});
