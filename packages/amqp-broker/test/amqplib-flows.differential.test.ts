/**
 * Core messaging flows driven by amqplib over real sockets. Every scenario runs against our broker and,
 * when reachable, against RabbitMQ; the observable results must be equal.
 */
import type amqp from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { expect } from 'vitest';
import { drain, take, waitFor } from './helpers/amqp-helpers.js';
import { differentialSuite } from './helpers/differential-suite.js';
import { uniqueName } from './helpers/targets.js';

type Scenario = (conn: ChannelModel) => Promise<unknown>;

/** Waits for the channel to be closed by the broker and returns the reply code amqplib reports. */
function closedWith(ch: Channel): Promise<number | undefined> {
  return new Promise((resolve) => {
    ch.on('error', (err: { code?: number }) => resolve(err.code));
    ch.on('close', () => resolve(undefined));
  });
}

// Routing keys here are unique queue names: compared for presence, not spelled out in snapshots.
const summary = (m: amqp.Message) => ({
  body: m.content.toString(),
  redelivered: m.fields.redelivered,
  exchange: m.fields.exchange,
  hasRoutingKey: m.fields.routingKey.length > 0,
});

const scenarios: Record<string, Scenario> = {
  'declare-ok counts, publish, get, get-empty': async (conn) => {
    const ch = await conn.createChannel();
    const q = uniqueName('q');
    const first = await ch.assertQueue(q, { autoDelete: false, durable: false });
    for (const body of ['a', 'b', 'c']) ch.sendToQueue(q, Buffer.from(body));
    await ch.assertQueue(q, { durable: false }); // sync point
    const again = await ch.checkQueue(q);
    const got = await ch.get(q, { noAck: true });
    const purge = await ch.purgeQueue(q);
    const empty = await ch.get(q);
    const del = await ch.deleteQueue(q);
    await ch.close();
    return {
      first: { messageCount: first.messageCount, consumerCount: first.consumerCount },
      again: { messageCount: again.messageCount },
      got: got && { ...summary(got), messageCount: got.fields.messageCount },
      purge,
      empty,
      del,
    };
  },

  'zero-byte body, properties and headers round trip': async (conn) => {
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.alloc(0), {
      contentType: 'application/json',
      headers: { a: 1, b: 'two', c: true, d: [1, 'x'], nested: { k: 'v' } },
      priority: 3,
      messageId: 'id-1',
      timestamp: 1_700_000_000,
      correlationId: 'corr',
      replyTo: 'rt',
      type: 't',
      appId: 'app',
      deliveryMode: 2,
    });
    const [m] = await take(ch, queue, 1, { noAck: true });
    await ch.close();
    return { length: m!.content.length, properties: m!.properties };
  },

  'large body re-framed to frame_max': async (conn) => {
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const body = Buffer.alloc(1_000_000);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    ch.sendToQueue(queue, body);
    const [m] = await take(ch, queue, 1, { noAck: true });
    await ch.close();
    return { equal: m!.content.equals(body), length: m!.content.length };
  },

  'direct, fanout, topic and headers routing': async (conn) => {
    const ch = await conn.createChannel();
    const names = {
      direct: uniqueName('dx'),
      fanout: uniqueName('fx'),
      topic: uniqueName('tx'),
      headers: uniqueName('hx'),
    };
    for (const [type, name] of Object.entries(names))
      await ch.assertExchange(name, type, { autoDelete: true });
    const q = async (label: string) => (await ch.assertQueue(uniqueName(label), { exclusive: true })).queue;
    const qd = await q('d');
    const qf1 = await q('f1');
    const qf2 = await q('f2');
    const qStar = await q('star');
    const qHash = await q('hash');
    const qAll = await q('all');
    const qAny = await q('any');
    await ch.bindQueue(qd, names.direct, 'k1');
    await ch.bindQueue(qf1, names.fanout, 'ignored');
    await ch.bindQueue(qf2, names.fanout, '');
    await ch.bindQueue(qStar, names.topic, 'a.*.c');
    await ch.bindQueue(qHash, names.topic, 'a.#');
    await ch.bindQueue(qAll, names.headers, '', { 'x-match': 'all', h1: 'v1', h2: 2 });
    await ch.bindQueue(qAny, names.headers, '', { 'x-match': 'any', h1: 'v1', h3: 'zz' });
    ch.publish(names.direct, 'k1', Buffer.from('d1'));
    ch.publish(names.direct, 'k2', Buffer.from('d2'));
    ch.publish(names.fanout, 'whatever', Buffer.from('f'));
    for (const key of ['a.b.c', 'a', 'a.b', 'a.b.c.d', 'b.a.c', 'a..c'])
      ch.publish(names.topic, key, Buffer.from(key));
    ch.publish(names.headers, '', Buffer.from('both'), { headers: { h1: 'v1', h2: 2 } });
    ch.publish(names.headers, '', Buffer.from('one'), { headers: { h1: 'v1' } });
    ch.publish(names.headers, '', Buffer.from('none'), { headers: { h9: 'v1' } });
    await ch.checkQueue(qd); // sync point: publishes before it are routed
    const drain = async (queue: string) => {
      const bodies: string[] = [];
      for (;;) {
        const m = await ch.get(queue, { noAck: true });
        if (m === false) return bodies;
        bodies.push(m.content.toString());
      }
    };
    const result = {
      direct: await drain(qd),
      fanout: [await drain(qf1), await drain(qf2)],
      star: await drain(qStar),
      hash: await drain(qHash),
      all: await drain(qAll),
      any: await drain(qAny),
    };
    await ch.close();
    return result;
  },

  'topic routing of empty keys and empty words': async (conn) => {
    const ch = await conn.createChannel();
    const x = uniqueName('tx');
    await ch.assertExchange(x, 'topic', { autoDelete: true });
    const bindings = [
      '',
      '*',
      '#',
      '#.#',
      '#.*',
      '*.#',
      '*.*',
      'a.#',
      'a.*',
      '*.a',
      'a..b',
      '.',
      '..',
      'a.*.b',
    ];
    const keys = ['', '.', '..', 'a', 'a.', '.a', 'a..b', 'a.b', 'a.b.c', '.a.'];
    const queues = new Map<string, string>();
    for (const binding of bindings) {
      const { queue } = await ch.assertQueue(uniqueName('tq'), { exclusive: true });
      await ch.bindQueue(queue, x, binding);
      queues.set(binding, queue);
    }
    for (const key of keys) ch.publish(x, key, Buffer.from(key));
    await ch.checkQueue(queues.get('')!); // sync point: publishes before it are routed
    const reached: Record<string, string[]> = {};
    for (const [binding, queue] of queues) {
      reached[`'${binding}'`] = (await drain(ch, queue)).map((m) => `'${m.content.toString()}'`);
    }
    await ch.close();
    return reached;
  },

  'mandatory unroutable publish returns 312 NO_ROUTE, then confirms': async (conn) => {
    const ch = await conn.createConfirmChannel();
    const returned = new Promise<{ code: number; text: string; rk: string; body: string }>((resolve) => {
      ch.on('return', (m: amqp.Message) =>
        resolve({
          code: (m.fields as unknown as { replyCode: number }).replyCode,
          text: (m.fields as unknown as { replyText: string }).replyText,
          rk: m.fields.routingKey,
          body: m.content.toString(),
        }),
      );
    });
    const confirmed = new Promise<string>((resolve) => {
      ch.publish('amq.direct', uniqueName('nobody'), Buffer.from('lost'), { mandatory: true }, (err) =>
        resolve(err ? 'nack' : 'ack'),
      );
    });
    const r = await returned;
    const result = { code: r.code, text: r.text, body: r.body, confirm: await confirmed };
    await ch.close();
    return result;
  },

  'publisher confirms for many messages': async (conn) => {
    const ch = await conn.createConfirmChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (let i = 0; i < 500; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    await ch.waitForConfirms();
    const { messageCount } = await ch.checkQueue(queue);
    await ch.close();
    return { messageCount };
  },

  'nack and reject requeue in original position with redelivered': async (conn) => {
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (const body of ['1', '2', '3', '4']) ch.sendToQueue(queue, Buffer.from(body));
    await ch.checkQueue(queue);
    const m1 = (await ch.get(queue)) as amqp.GetMessage;
    const m2 = (await ch.get(queue)) as amqp.GetMessage;
    const m3 = (await ch.get(queue)) as amqp.GetMessage;
    ch.reject(m2, true);
    ch.nack(m3, false, false); // dropped
    ch.nack(m1, false, true);
    const order: ReturnType<typeof summary>[] = [];
    for (;;) {
      const m = await ch.get(queue);
      if (m === false) break;
      order.push(summary(m));
      ch.ack(m);
    }
    await ch.close();
    return order.map((o) => ({ body: o.body, redelivered: o.redelivered }));
  },

  'ack multiple and channel close requeues unacked': async (conn) => {
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue(uniqueName('q'), { autoDelete: false });
    for (let i = 1; i <= 5; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    await ch.checkQueue(queue);
    const got: amqp.GetMessage[] = [];
    for (let i = 0; i < 5; i++) got.push((await ch.get(queue)) as amqp.GetMessage);
    ch.ack(got[2]!, true); // acks 1..3
    await ch.close(); // 4 and 5 go back
    const ch2 = await conn.createChannel();
    const after = await ch2.checkQueue(queue);
    const next = (await ch2.get(queue, { noAck: true })) as amqp.GetMessage;
    await ch2.deleteQueue(queue);
    await ch2.close();
    return { messageCount: after.messageCount, next: summary(next) };
  },

  'prefetch limits unacked deliveries per consumer': async (conn) => {
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (let i = 0; i < 10; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    await ch.prefetch(3);
    const got: ConsumeMessage[] = [];
    await ch.consume(queue, (m) => {
      if (m !== null) got.push(m);
    });
    // Wait for the deliveries, then a round trip on the channel: the broker sends what the consume (or the
    // ack) lets it deliver before it answers a later method, so one more than allowed would be counted.
    await waitFor(() => got.length >= 3, 'the first deliveries', 15_000);
    await ch.checkQueue(queue);
    const before = got.length;
    ch.ack(got[0]!);
    await waitFor(() => got.length >= 4, 'a delivery after the ack', 15_000);
    await ch.checkQueue(queue);
    const after = got.length;
    await ch.close();
    return { before, after, bodies: got.map((m) => m.content.toString()) };
  },

  'exclusive consumer refuses a second consumer with 403; cancel': async (conn) => {
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue(uniqueName('excl'), { exclusive: true });
    const { consumerTag } = await ch.consume(queue, () => {}, { exclusive: true });
    const ch2 = await conn.createChannel();
    const refused = closedWith(ch2);
    ch2.consume(queue, () => {}).catch(() => {});
    const code403 = await refused;
    const cancelled = await ch.cancel(consumerTag);
    await ch.close();
    return { code403, cancelled: cancelled.consumerTag === consumerTag };
  },

  'queue.delete if-empty and exchange.delete if-unused: 406': async (conn) => {
    const ch = await conn.createChannel();
    const q = uniqueName('q');
    await ch.assertQueue(q, { autoDelete: false });
    ch.sendToQueue(q, Buffer.from('x'));
    await ch.checkQueue(q);
    const failed = closedWith(ch);
    ch.deleteQueue(q, { ifEmpty: true }).catch(() => {});
    const codeQueue = await failed;
    const ch2 = await conn.createChannel();
    const x = uniqueName('x');
    await ch2.assertExchange(x, 'direct', { autoDelete: false });
    await ch2.bindQueue(q, x, 'k');
    const failed2 = closedWith(ch2);
    ch2.deleteExchange(x, { ifUnused: true }).catch(() => {});
    const codeExchange = await failed2;
    const ch3 = await conn.createChannel();
    await ch3.deleteExchange(x);
    const del = await ch3.deleteQueue(q);
    await ch3.close();
    return { codeQueue, codeExchange, del };
  },

  'inequivalent redeclare: 406': async (conn) => {
    const ch = await conn.createChannel();
    const q = uniqueName('q');
    await ch.assertQueue(q, { autoDelete: true, arguments: { 'x-max-length': 10 } });
    const failed = closedWith(ch);
    ch.assertQueue(q, { autoDelete: true, arguments: { 'x-max-length': 20 } }).catch(() => {});
    const code = await failed;
    const ch2 = await conn.createChannel();
    await ch2.deleteQueue(q);
    await ch2.close();
    return { code };
  },
};

// One after the other, ours first (as these flows have always run).
differentialSuite(
  'amqplib flows: dispatcher vs RabbitMQ',
  Object.fromEntries(
    Object.entries(scenarios).map(([name, scenario]) => [
      name,
      ({ conn }: { conn: ChannelModel }) => scenario(conn),
    ]),
  ),
  (server) => expect(server.vhost()?.queueCount).toBe(0),
  { concurrent: false },
);
