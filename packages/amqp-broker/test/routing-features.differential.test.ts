/**
 * Exchange-to-exchange bindings, alternate exchanges, CC/BCC, consumer priorities, server-sent cancel,
 * basic.recover, direct reply-to and exclusive/auto-delete cleanup, driven by amqplib against our broker
 * and, when reachable, RabbitMQ; the observable results must be equal.
 */
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { expect } from 'vitest';
import { channelErrorCode, drain, settle, sleep } from './helpers/amqp-helpers.js';
import { differentialSuite } from './helpers/differential-suite.js';
import { uniqueName } from './helpers/targets.js';

interface Ctx {
  readonly conn: ChannelModel;
  readonly url: string;
}
type Scenario = (ctx: Ctx) => Promise<unknown>;

const bodies = (ms: readonly amqp.Message[]) => ms.map((m) => m.content.toString());

/**
 * What a passive declare of `queue` gets, asked until it no longer finds the queue (or the bound passes):
 * for a queue the broker deletes after an event it reports before doing so.
 */
async function codeOnceGone(conn: ChannelModel, queue: string): Promise<number | undefined> {
  let code: number | undefined;
  await settle(async () => {
    code = await channelErrorCode(
      () => conn.createChannel(),
      (c) => c.checkQueue(queue),
    );
    return code === 404;
  });
  return code;
}

const scenarios: Record<string, Scenario> = {
  'exchange-to-exchange bindings route on, once per queue, and unbind': async ({ conn }) => {
    const ch = await conn.createChannel();
    const src = uniqueName('src');
    const dst = uniqueName('dst');
    const loop = uniqueName('loop');
    await ch.assertExchange(src, 'topic', { autoDelete: false });
    await ch.assertExchange(dst, 'fanout', { autoDelete: false });
    await ch.assertExchange(loop, 'fanout', { autoDelete: false });
    const qd = (await ch.assertQueue('', { exclusive: true })).queue;
    const qs = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(qd, dst, '');
    await ch.bindQueue(qs, src, 'a.#');
    await ch.bindExchange(dst, src, 'a.*');
    // A cycle: dst -> loop -> dst; and loop also reaches qs (already reached through src).
    await ch.bindExchange(loop, dst, '');
    await ch.bindExchange(dst, loop, '');
    await ch.bindQueue(qs, loop, '');
    for (const key of ['a.b', 'a.b.c', 'x.y']) ch.publish(src, key, Buffer.from(key));
    await ch.checkQueue(qd);
    const before = { qd: bodies(await drain(ch, qd)), qs: bodies(await drain(ch, qs)) };
    await ch.unbindExchange(dst, src, 'a.*');
    await ch.unbindExchange(dst, src, 'never-bound'); // not an error
    ch.publish(src, 'a.b', Buffer.from('after'));
    await ch.checkQueue(qd);
    const after = { qd: bodies(await drain(ch, qd)), qs: bodies(await drain(ch, qs)) };
    // Deleting an exchange removes the bindings it is the destination of.
    await ch.deleteExchange(loop);
    ch.publish(dst, '', Buffer.from('no-loop'));
    await ch.checkQueue(qd);
    const afterDelete = { qd: bodies(await drain(ch, qd)), qs: bodies(await drain(ch, qs)) };
    await ch.deleteExchange(src);
    await ch.deleteExchange(dst);
    await ch.close();
    const open = () => conn.createChannel();
    const errors = {
      missing: await channelErrorCode(open, (c) => c.bindExchange(uniqueName('nope'), 'amq.direct', 'k')),
      defaultSource: await channelErrorCode(open, (c) => c.bindExchange('amq.direct', '', 'k')),
    };
    return { before, after, afterDelete, errors };
  },

  'auto-delete exchange goes with its last exchange binding': async ({ conn }) => {
    const ch = await conn.createChannel();
    const src = uniqueName('src');
    const dst = uniqueName('dst');
    await ch.assertExchange(src, 'direct', { autoDelete: true });
    await ch.assertExchange(dst, 'fanout', { autoDelete: false });
    await ch.bindExchange(dst, src, 'k');
    await ch.unbindExchange(dst, src, 'k');
    await ch.close();
    const code = await channelErrorCode(
      () => conn.createChannel(),
      (c) => c.checkExchange(src),
    );
    const ch2 = await conn.createChannel();
    await ch2.deleteExchange(dst);
    await ch2.close();
    return { code };
  },

  'alternate-exchange takes unroutable messages (no basic.return)': async ({ conn }) => {
    const ch = await conn.createConfirmChannel();
    const ae = uniqueName('ae');
    const x = uniqueName('x');
    await ch.assertExchange(ae, 'fanout', { autoDelete: true });
    await ch.assertExchange(x, 'direct', { autoDelete: true, alternateExchange: ae });
    const qae = (await ch.assertQueue('', { exclusive: true })).queue;
    const qk = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(qae, ae, '');
    await ch.bindQueue(qk, x, 'k');
    const returned: string[] = [];
    ch.on('return', (m: amqp.Message) => returned.push(m.content.toString()));
    ch.publish(x, 'k', Buffer.from('routed'), { mandatory: true });
    ch.publish(x, 'other', Buffer.from('unroutable'), { mandatory: true });
    await ch.waitForConfirms();
    const result = {
      qk: bodies(await drain(ch, qk)),
      qae: bodies(await drain(ch, qae)),
      returned: [...returned],
    };
    // An alternate exchange that routes nowhere: the message is returned.
    await ch.unbindQueue(qae, ae, '');
    ch.publish(x, 'other', Buffer.from('lost'), { mandatory: true });
    await ch.waitForConfirms();
    await settle(() => returned.length === 1);
    await ch.close();
    return { ...result, returnedAfter: returned };
  },

  'CC and BCC headers add routing keys; BCC is stripped': async ({ conn }) => {
    const ch = await conn.createChannel();
    const x = uniqueName('x');
    await ch.assertExchange(x, 'direct', { autoDelete: true });
    const queues: Record<string, string> = {};
    for (const key of ['k1', 'k2', 'k3', 'k4']) {
      queues[key] = (await ch.assertQueue('', { exclusive: true })).queue;
      await ch.bindQueue(queues[key]!, x, key);
    }
    ch.publish(x, 'k1', Buffer.from('m'), { CC: ['k2'], BCC: 'k3', headers: { h: 1 } });
    ch.publish(x, 'none', Buffer.from('cc-only'), { CC: ['k4', 'k4'] });
    await ch.checkQueue(queues.k1!);
    const out: Record<string, unknown> = {};
    for (const [key, q] of Object.entries(queues)) {
      out[key] = (await drain(ch, q)).map((m) => ({
        body: m.content.toString(),
        routingKey: m.fields.routingKey,
        headers: m.properties.headers,
      }));
    }
    // Through the default exchange the keys are queue names.
    ch.sendToQueue(queues.k1!, Buffer.from('default'), { BCC: [queues.k2!] });
    await ch.checkQueue(queues.k1!);
    out.defaultK1 = bodies(await drain(ch, queues.k1!));
    out.defaultK2 = bodies(await drain(ch, queues.k2!));
    await ch.close();
    return out;
  },

  'consumer priorities: the highest-priority consumer with credit gets messages first': async ({ conn }) => {
    const ch = await conn.createChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.prefetch(2);
    const got: [string, string][] = [];
    const on = (who: string) => (m: ConsumeMessage | null) => {
      if (m !== null) got.push([who, m.content.toString()]);
    };
    await ch.consume(q, on('low'), { priority: 0 });
    await ch.consume(q, on('high'), { priority: 10 });
    for (let i = 1; i <= 5; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    // Two consumers with a prefetch of 2 each: four delivered, one left in the queue.
    await settle(() => got.length === 4);
    const { messageCount } = await ch.checkQueue(q);
    await ch.close();
    return { got, messageCount };
  },

  'deleting a consumed queue sends basic.cancel to its consumers': async ({ conn }) => {
    const ch = await conn.createChannel();
    const q = uniqueName('q');
    await ch.assertQueue(q, { autoDelete: false });
    const events: string[] = [];
    const cancelled = new Promise<void>((resolve) => {
      ch.consume(q, (m) => {
        events.push(m === null ? 'cancelled' : m.content.toString());
        if (m === null) resolve();
      }).catch(() => {});
    });
    await ch.checkQueue(q);
    ch.sendToQueue(q, Buffer.from('one'));
    await settle(() => events.includes('one'));
    const other = await conn.createChannel();
    const deleted = await other.deleteQueue(q);
    await Promise.race([cancelled, sleep(1000)]);
    await other.close();
    await ch.close();
    return { events, deleted };
  },

  'basic.recover requeues unacked deliveries, redelivered': async ({ conn }) => {
    const ch = await conn.createChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    for (const b of ['1', '2']) ch.sendToQueue(q, Buffer.from(b));
    await ch.checkQueue(q);
    await ch.get(q);
    await ch.get(q);
    await ch.recover();
    const again = (await drain(ch, q)).map((m) => [m.content.toString(), m.fields.redelivered]);
    await ch.close();
    return again;
  },

  'direct reply-to: replies reach the requesting channel; misuse is 406': async ({ conn }) => {
    const client = await conn.createChannel();
    const server = await conn.createChannel();
    const rpc = (await server.assertQueue('', { exclusive: true })).queue;
    await server.consume(
      rpc,
      (m) => {
        if (m === null) return;
        server.sendToQueue(m.properties.replyTo as string, Buffer.from(`re:${m.content.toString()}`), {
          correlationId: m.properties.correlationId as string,
        });
      },
      { noAck: true },
    );
    const replies: unknown[] = [];
    let consuming: Promise<unknown> = Promise.resolve();
    const done = new Promise<void>((resolve) => {
      consuming = client
        .consume(
          'amq.rabbitmq.reply-to',
          (m) => {
            if (m === null) return;
            replies.push({
              body: m.content.toString(),
              correlationId: m.properties.correlationId,
              exchange: m.fields.exchange,
              routingKeyPrefix: m.fields.routingKey.startsWith('amq.rabbitmq.reply-to.'),
            });
            if (replies.length === 2) resolve();
          },
          { noAck: true },
        )
        .catch(() => {});
    });
    await consuming;
    const check = await client.checkQueue('amq.rabbitmq.reply-to');
    for (const id of ['a', 'b'])
      client.sendToQueue(rpc, Buffer.from(id), { replyTo: 'amq.rabbitmq.reply-to', correlationId: id });
    await Promise.race([done, sleep(2000)]);
    await client.close();
    await server.close();
    const open = () => conn.createChannel();
    const errors = {
      ackingConsumer: await channelErrorCode(open, (c) =>
        c.consume('amq.rabbitmq.reply-to', () => {}, { noAck: false }),
      ),
      twice: await channelErrorCode(open, async (c) => {
        await c.consume('amq.rabbitmq.reply-to', () => {}, { noAck: true });
        await c.consume('amq.rabbitmq.reply-to', () => {}, { noAck: true });
      }),
      noConsumer: await channelErrorCode(open, async (c) => {
        c.sendToQueue(uniqueName('nobody'), Buffer.from('x'), { replyTo: 'amq.rabbitmq.reply-to' });
        await c.checkQueue('amq.rabbitmq.reply-to');
      }),
    };
    return {
      replies,
      check: { messageCount: check.messageCount, consumerCount: check.consumerCount },
      errors,
    };
  },

  'exclusive queues go with their connection; auto-delete queues with their last consumer': async ({
    conn,
    url,
  }) => {
    const other = await amqp.connect(url);
    const och = await other.createChannel();
    const excl = (await och.assertQueue(uniqueName('excl'), { exclusive: true })).queue;
    const ch = await conn.createChannel();
    const lockedCode = await channelErrorCode(
      () => conn.createChannel(),
      (c) => c.checkQueue(excl),
    );
    await other.close();
    // The exclusive queue goes once the broker has finished closing the connection.
    const afterCloseCode = await codeOnceGone(conn, excl);
    const ad = (await ch.assertQueue(uniqueName('ad'), { autoDelete: true })).queue;
    const c1 = await ch.consume(ad, () => {});
    const c2 = await ch.consume(ad, () => {});
    await ch.cancel(c1.consumerTag);
    const stillThere = (await ch.checkQueue(ad)).consumerCount;
    await ch.cancel(c2.consumerTag);
    await ch.close();
    // The auto-delete queue goes with its last consumer.
    const afterCancelCode = await codeOnceGone(conn, ad);
    return { lockedCode, afterCloseCode, stillThere, afterCancelCode };
  },
};

differentialSuite('routing features: dispatcher vs RabbitMQ', scenarios, (server) => {
  expect(server.vhost()?.queueCount).toBe(0);
  expect(server.vhost()?.exchangeCount).toBe(6);
});
