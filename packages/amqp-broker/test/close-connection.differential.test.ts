/**
 * Closing a client connection from the broker's side: `BrokerServer.closeConnection()` on ours,
 * `rabbitmqctl close_connection` on RabbitMQ. What amqplib sees (close code and text, error events), what
 * happens to the connection's unacknowledged deliveries and to its consumers must be equal.
 */

import { rabbitmqCloseConnectionsNamed } from '@dispatcher/tooling';
import amqp, { type ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BrokerServer } from '../src/index.js';
import { sleep } from './helpers/amqp-helpers.js';
import { rabbitTarget, startBroker, type Target, uniqueName } from './helpers/targets.js';

const REASON = 'test: closed from the server side';

/** Opens a named connection holding two unacked deliveries, closes it from the server side, looks around. */
async function scenario(target: Target, closeNamed: (name: string) => Promise<number>): Promise<unknown> {
  const connectionName = uniqueName('conn');
  const queue = uniqueName('q');
  const observer = await amqp.connect(target.url);
  const victim = await amqp.connect(target.url, { clientProperties: { connection_name: connectionName } });
  try {
    const seen: { errors: number[]; closes: Array<{ code?: number; message?: string }> } = {
      errors: [],
      closes: [],
    };
    victim.on('error', (err: { code: number }) => seen.errors.push(err.code));
    const closed = new Promise<void>((resolve) => {
      victim.on('close', (err?: { code?: number; message?: string }) => {
        seen.closes.push({ code: err?.code, message: err?.message });
        resolve();
      });
    });
    const och = await observer.createChannel();
    await och.assertQueue(queue, { durable: false, autoDelete: false });
    for (const body of ['a', 'b', 'c']) och.sendToQueue(queue, Buffer.from(body));
    const vch = await victim.createChannel();
    await vch.prefetch(2);
    const delivered: ConsumeMessage[] = [];
    await vch.consume(queue, (m) => {
      if (m) delivered.push(m);
    });
    const deadline = Date.now() + 5_000;
    while (delivered.length < 2 && Date.now() < deadline) await sleep(10);

    const count = await closeNamed(connectionName);
    await Promise.race([closed, sleep(5_000)]);
    await sleep(100);
    const { messageCount, consumerCount } = await och.checkQueue(queue);
    const after: Array<{ body: string; redelivered: boolean }> = [];
    for (;;) {
      const m = await och.get(queue, { noAck: true });
      if (m === false) break;
      after.push({ body: m.content.toString(), redelivered: m.fields.redelivered });
    }
    await och.deleteQueue(queue);
    return {
      count,
      deliveredBeforeClose: delivered.map((m) => m.content.toString()),
      seen,
      queue: { messageCount, consumerCount },
      after,
      missingNameCount: await closeNamed(uniqueName('nobody')),
    };
  } finally {
    await victim.close().catch(() => {});
    await observer.close().catch(() => {});
  }
}

describe('closing a connection from the server side: dispatcher vs RabbitMQ', () => {
  let server: BrokerServer;
  let ours: Target;
  const rabbitUp = inject('rabbitmqReachable');
  beforeAll(async () => {
    ({ server, target: ours } = await startBroker());
  });
  afterAll(async () => {
    await server.close();
  });

  it('sends connection.close 320 CONNECTION_FORCED with the reason and requeues unacked deliveries', async () => {
    const [mine, theirs] = await Promise.all([
      scenario(ours, (name) => server.closeConnection(name, { reason: REASON })),
      rabbitUp
        ? scenario(rabbitTarget(inject('rabbitmqUrl')), (name) => rabbitmqCloseConnectionsNamed(name, REASON))
        : undefined,
    ]);
    expect(mine).toMatchObject({
      count: 1,
      deliveredBeforeClose: ['a', 'b'],
      seen: {
        closes: [
          {
            code: 320,
            message: `Connection closed: 320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - ${REASON}"`,
          },
        ],
      },
      queue: { messageCount: 3, consumerCount: 0 },
      after: [
        { body: 'a', redelivered: true },
        { body: 'b', redelivered: true },
        { body: 'c', redelivered: false },
      ],
      missingNameCount: 0,
    });
    if (rabbitUp) expect(mine).toEqual(theirs);
  });
});

describe('BrokerServer.connections() and closeConnection()', () => {
  let server: BrokerServer;
  let ours: Target;
  beforeAll(async () => {
    ({ server, target: ours } = await startBroker());
  });
  afterAll(async () => {
    await server.close();
  });

  it('lists connections and closes one by its name or connection_name, with the reply code asked for', async () => {
    const named = await amqp.connect(ours.url, { clientProperties: { connection_name: 'worker-1' } });
    const anonymous = await amqp.connect(ours.url);
    const closes: Array<number | undefined> = [];
    named.on('error', () => {});
    anonymous.on('error', () => {});
    named.on('close', (err?: { code?: number }) => closes.push(err?.code));
    anonymous.on('close', (err?: { code?: number }) => closes.push(err?.code));
    try {
      const listed = server.connections();
      expect(listed).toHaveLength(2);
      expect(listed[0]).toMatchObject({ clientProvidedName: 'worker-1', user: 'guest', vhost: '/' });
      expect(listed[1]?.clientProvidedName).toBeUndefined();
      for (const c of listed) expect(c.name).toMatch(/^127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+$/);

      await expect(server.closeConnection('worker-1', { replyCode: 404 })).rejects.toMatchObject({
        code: 'DSP_BROKER_INVALID_ARGUMENT',
      });
      expect(server.connections()).toHaveLength(2);

      // By RabbitMQ's connection name, with another hard-error code.
      expect(await server.closeConnection(listed[1]!.name, { replyCode: 530 })).toBe(1);
      expect(server.connections().map((c) => c.clientProvidedName)).toEqual(['worker-1']);
      expect(await server.closeConnection('worker-1')).toBe(1);
      await sleep(50);
      expect(server.connections()).toEqual([]);
      expect(closes.sort()).toEqual([320, 530]);
      expect(await server.closeConnection('worker-1')).toBe(0);
    } finally {
      await named.close().catch(() => {});
      await anonymous.close().catch(() => {});
    }
  });
});
