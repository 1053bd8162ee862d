/**
 * Queue arguments (TTL, expiry, length limits, dead-lettering, priorities, single active consumer) driven
 * by amqplib. Every scenario runs against our broker and, when reachable, against RabbitMQ; the observable
 * results must be equal (x-death headers included, field order too — `normalize` keeps it).
 */
import type amqp from 'amqplib';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { expect } from 'vitest';
import { channelErrorCode, drain, normalize, settle, sleep } from './helpers/amqp-helpers.js';
import { type BrokerSide, differentialSuite } from './helpers/differential-suite.js';
import { uniqueName } from './helpers/targets.js';

interface Ctx {
  readonly conn: ChannelModel;
  readonly url: string;
  readonly side: BrokerSide;
}
type Scenario = (ctx: Ctx) => Promise<unknown>;

const scenarios: Record<string, Scenario> = {
  'x-message-ttl and expiration: expired messages are dead-lettered with x-death': async ({ conn }) => {
    const ch = await conn.createChannel();
    const dlx = uniqueName('dlx');
    await ch.assertExchange(dlx, 'fanout', { autoDelete: true });
    const dq = (await ch.assertQueue(uniqueName('dq'), { exclusive: true })).queue;
    await ch.bindQueue(dq, dlx, '');
    const q = (
      await ch.assertQueue(uniqueName('q'), {
        exclusive: true,
        arguments: { 'x-message-ttl': 40, 'x-dead-letter-exchange': dlx },
      })
    ).queue;
    ch.sendToQueue(q, Buffer.from('a'), { expiration: '10', headers: { CC: ['cc-key'], zz: 1, aa: 'x' } });
    ch.sendToQueue(q, Buffer.from('b'), { messageId: 'm-b', expiration: '60000' });
    await ch.checkQueue(q);
    // Both expire (a after 10 ms, b at the queue's 40 ms) and are dead-lettered.
    await settle(async () => (await ch.checkQueue(dq)).messageCount === 2);
    const left = await ch.get(q);
    const dead = await drain(ch, dq);
    await ch.close();
    const labels = { [q]: 'q', [dlx]: 'dlx' };
    return {
      left,
      dead: dead.map((m) => ({
        body: m.content.toString(),
        exchange: normalize(m.fields.exchange, labels),
        routingKey: normalize(m.fields.routingKey, labels),
        expiration: m.properties.expiration,
        messageId: m.properties.messageId,
        headers: normalize(m.properties.headers, labels),
      })),
    };
  },

  'per-message expiration is applied at the head; basic.get never returns an expired message': async ({
    conn,
  }) => {
    const ch = await conn.createChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    ch.sendToQueue(q, Buffer.from('keep'));
    ch.sendToQueue(q, Buffer.from('short'), { expiration: '20' });
    ch.sendToQueue(q, Buffer.from('long'), { expiration: '60000' });
    await ch.checkQueue(q);
    await sleep(150);
    const before = (await ch.checkQueue(q)).messageCount;
    const bodies = (await drain(ch, q)).map((m) => m.content.toString());
    const zero = await ch.assertQueue('', { exclusive: true, arguments: { 'x-message-ttl': 0 } });
    ch.sendToQueue(zero.queue, Buffer.from('gone'));
    await ch.checkQueue(zero.queue);
    const zeroGet = await ch.get(zero.queue);
    await ch.close();
    return { before, bodies, zeroGet };
  },

  'invalid expiration closes the channel with 406': async ({ conn }) => {
    const open = () => conn.createChannel();
    const q = uniqueName('q');
    const codes = [];
    for (const expiration of ['abc', '-5']) {
      codes.push(
        await channelErrorCode(open, async (ch) => {
          await ch.assertQueue(q, { exclusive: true });
          ch.sendToQueue(q, Buffer.from('x'), { expiration });
          await ch.checkQueue(q);
        }),
      );
    }
    return codes;
  },

  'reject without requeue dead-letters; x-death counts repeat deaths': async ({ conn }) => {
    const ch = await conn.createChannel();
    const q = uniqueName('q');
    await ch.assertQueue(q, {
      exclusive: true,
      arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': q },
    });
    ch.sendToQueue(q, Buffer.from('c'), { headers: { CC: ['cc-key'] }, expiration: '60000' });
    await ch.checkQueue(q);
    const seen: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const m = (await ch.get(q)) as amqp.GetMessage;
      seen.push({
        routingKey: normalize(m.fields.routingKey, { [q]: 'q' }),
        expiration: m.properties.expiration,
        headers: normalize(m.properties.headers, { [q]: 'q' }),
      });
      if (i === 1) ch.nack(m, false, false);
      else ch.reject(m, false);
      await ch.checkQueue(q);
    }
    const last = (await ch.get(q, { noAck: true })) as amqp.GetMessage;
    seen.push(normalize(last.properties.headers, { [q]: 'q' }));
    await ch.close();
    return seen;
  },

  'expiry dead-lettering back into the same queue is a cycle: dropped': async ({ conn }) => {
    const ch = await conn.createChannel();
    const q = uniqueName('q');
    await ch.assertQueue(q, {
      exclusive: true,
      arguments: { 'x-message-ttl': 20, 'x-dead-letter-exchange': '' },
    });
    ch.sendToQueue(q, Buffer.from('loop'));
    await ch.checkQueue(q);
    // Expired after 20 ms and dead-lettered back here, where it would expire again every 20 ms: a queue
    // seen empty has dropped it (a cycle re-publishes on expiry, so the queue is never seen empty).
    await settle(async () => (await ch.checkQueue(q)).messageCount === 0);
    const { messageCount } = await ch.checkQueue(q);
    await ch.close();
    return { messageCount };
  },

  'x-max-length drop-head dead-letters the oldest (maxlen); max-length-bytes': async ({ conn }) => {
    const ch = await conn.createConfirmChannel();
    const dlx = uniqueName('dlx');
    await ch.assertExchange(dlx, 'fanout', { autoDelete: true });
    const dq = (await ch.assertQueue(uniqueName('dq'), { exclusive: true })).queue;
    await ch.bindQueue(dq, dlx, '');
    const q = (
      await ch.assertQueue(uniqueName('q'), {
        exclusive: true,
        arguments: { 'x-max-length': 2, 'x-dead-letter-exchange': dlx },
      })
    ).queue;
    for (const b of ['1', '2', '3', '4']) ch.sendToQueue(q, Buffer.from(b));
    await ch.waitForConfirms();
    const declared = await ch.checkQueue(q);
    const kept = (await drain(ch, q)).map((m) => m.content.toString());
    const dead = (await drain(ch, dq)).map((m) => ({
      body: m.content.toString(),
      headers: normalize(m.properties.headers, { [q]: 'q', [dlx]: 'dlx' }),
    }));
    const qb = (await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-length-bytes': 5 } })).queue;
    for (const b of ['aaa', 'bbb', 'cc', 'dddddd']) ch.sendToQueue(qb, Buffer.from(b));
    await ch.waitForConfirms();
    const keptBytes = (await drain(ch, qb)).map((m) => m.content.toString());
    await ch.close();
    return { count: declared.messageCount, kept, dead, keptBytes };
  },

  'x-overflow reject-publish nacks; reject-publish-dlx also dead-letters': async ({ conn }) => {
    const ch = await conn.createConfirmChannel();
    const dlx = uniqueName('dlx');
    await ch.assertExchange(dlx, 'fanout', { autoDelete: true });
    const dq = (await ch.assertQueue(uniqueName('dq'), { exclusive: true })).queue;
    await ch.bindQueue(dq, dlx, '');
    const results: Record<string, unknown> = {};
    for (const overflow of ['reject-publish', 'reject-publish-dlx']) {
      const q = (
        await ch.assertQueue(uniqueName('q'), {
          exclusive: true,
          arguments: { 'x-max-length': 1, 'x-overflow': overflow, 'x-dead-letter-exchange': dlx },
        })
      ).queue;
      const confirms = await Promise.all(
        ['1', '2', '3'].map(
          (b) =>
            new Promise<string>((resolve) => {
              ch.sendToQueue(q, Buffer.from(b), {}, (err) => resolve(err ? 'nack' : 'ack'));
            }),
        ),
      );
      const kept = (await drain(ch, q)).map((m) => m.content.toString());
      const dead = (await drain(ch, dq)).map((m) => ({
        body: m.content.toString(),
        headers: normalize(m.properties.headers, { [q]: 'q', [dlx]: 'dlx' }),
      }));
      results[overflow] = { confirms, kept, dead };
    }
    await ch.close();
    return results;
  },

  'x-max-priority: highest first, FIFO within a priority, capped at the maximum': async ({ conn }) => {
    const ch = await conn.createChannel();
    const q = (await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-priority': 5 } })).queue;
    const sends: [string, number | undefined][] = [
      ['p1', 1],
      ['p5a', 5],
      ['none', undefined],
      ['p3', 3],
      ['p10', 10],
      ['p5b', 5],
      ['p0', 0],
    ];
    for (const [body, priority] of sends)
      ch.sendToQueue(q, Buffer.from(body), priority === undefined ? {} : { priority });
    await ch.checkQueue(q);
    const first = (await ch.get(q)) as amqp.GetMessage;
    ch.nack(first, false, true); // requeued: stays first
    const order = (await drain(ch, q)).map((m) => [m.content.toString(), m.fields.redelivered]);
    await ch.close();
    return order;
  },

  'x-single-active-consumer: one consumer gets everything, then the next after cancel': async ({ conn }) => {
    const ch1 = await conn.createChannel();
    const ch2 = await conn.createChannel();
    const q = (
      await ch1.assertQueue(uniqueName('sac'), {
        exclusive: true,
        arguments: { 'x-single-active-consumer': true },
      })
    ).queue;
    const got: [string, string][] = [];
    const onMsg = (who: string) => (m: ConsumeMessage | null) => {
      if (m !== null) got.push([who, m.content.toString()]);
    };
    const c1 = await ch1.consume(q, onMsg('first'), { noAck: true });
    await ch2.consume(q, onMsg('second'), { noAck: true });
    for (const b of ['1', '2', '3']) ch1.sendToQueue(q, Buffer.from(b));
    await settle(() => got.length === 3);
    const declared = await ch1.checkQueue(q);
    await ch1.cancel(c1.consumerTag);
    for (const b of ['4', '5']) ch1.sendToQueue(q, Buffer.from(b));
    await settle(() => got.length === 5);
    await ch2.close();
    await ch1.close();
    return { got, consumerCount: declared.consumerCount };
  },

  'x-expires deletes a queue left unused; use keeps it': async ({ conn, side }) => {
    const ch = await conn.createChannel();
    const unused = uniqueName('exp');
    const used = uniqueName('used');
    const redeclared = uniqueName('redeclared');
    // Generous times so a loaded machine cannot turn a use gap into an expiry: 1 s expiry, a use every 250 ms
    // (these waits are the scenario: the gaps between uses).
    for (const q of [unused, used, redeclared])
      await ch.assertQueue(q, { arguments: { 'x-expires': 1_000 } });
    for (let i = 0; i < 5; i++) {
      await sleep(250);
      await ch.get(used); // basic.get counts as use
      await ch.checkQueue(redeclared); // so does a (passive) declare
    }
    const usedAlive = (await ch.checkQueue(used)).queue === used;
    const redeclaredAlive = (await ch.checkQueue(redeclared)).messageCount === 0;
    await ch.deleteQueue(redeclared);
    // Until both remaining queues have expired (the broker's timer, not ours, decides), asked without using
    // them: a passive declare counts as use and would keep them alive.
    await settle(async () => !(await side.queueExists(unused)) && !(await side.queueExists(used)), 15_000);
    await ch.close();
    const unusedCode = await channelErrorCode(
      () => conn.createChannel(),
      (c) => c.checkQueue(unused),
    );
    const usedCode = await channelErrorCode(
      () => conn.createChannel(),
      (c) => c.checkQueue(used),
    );
    return { usedAlive, redeclaredAlive, unusedCode, usedCode };
  },
};

differentialSuite('queue features: dispatcher vs RabbitMQ', scenarios, (server) => {
  expect(server.vhost()?.queueCount).toBe(0);
});
