/**
 * Closing a client connection from the broker's side: `BrokerServer.closeConnection()` on ours,
 * `rabbitmqctl close_connection` on RabbitMQ. What amqplib sees (close code and text, error events), what
 * happens to the connection's unacknowledged deliveries and to its consumers must be equal.
 */

import amqp, { type ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerServer } from '../src/index.js';
import { settle, sleep, waitFor } from './helpers/amqp-helpers.js';
import { type DifferentialScenario, differentialSuite } from './helpers/differential-suite.js';
import { startBroker, type Target, uniqueName } from './helpers/targets.js';

const REASON = 'test: closed from the server side';

/** Opens a named connection holding two unacked deliveries, closes it from the server side, looks around. */
const closedFromTheServerSide: DifferentialScenario = async ({ url, side }) => {
  const closeNamed = (name: string) => side.closeConnectionsNamed(name, REASON);
  const connectionName = uniqueName('conn');
  const queue = uniqueName('q');
  const observer = await amqp.connect(url);
  const victim = await amqp.connect(url, { clientProperties: { connection_name: connectionName } });
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
    await settle(() => delivered.length === 2);

    const count = await closeNamed(connectionName);
    await Promise.race([closed, sleep(5_000)]);
    // The client sees the close before the broker has requeued its deliveries and dropped its consumer:
    // wait for that (or for a bound, then compare whatever is there).
    let { messageCount, consumerCount } = await och.checkQueue(queue);
    await settle(async () => {
      ({ messageCount, consumerCount } = await och.checkQueue(queue));
      return consumerCount === 0 && messageCount === 3;
    });
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
};

const CLOSED = 'sends connection.close 320 CONNECTION_FORCED with the reason and requeues unacked deliveries';

differentialSuite(
  'closing a connection from the server side: dispatcher vs RabbitMQ',
  { [CLOSED]: closedFromTheServerSide },
  (server) => {
    expect(server.vhost()?.queueCount).toBe(0);
  },
  {
    expected: {
      [CLOSED]: {
        count: 1,
        deliveredBeforeClose: ['a', 'b'],
        seen: {
          errors: [],
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
      },
    },
  },
);

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
      await waitFor(() => server.connections().length === 0, 'both connections gone');
      expect(closes.sort()).toEqual([320, 530]);
      expect(await server.closeConnection('worker-1')).toBe(0);
    } finally {
      await named.close().catch(() => {});
      await anonymous.close().catch(() => {});
    }
  });
});
