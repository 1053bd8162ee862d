/**
 * Transactions (tx.select / commit / rollback) over raw sockets against our broker and, when reachable,
 * RabbitMQ: acks and rejects inside a transaction are checked at once and applied on commit only, a
 * rollback gives the acked deliveries back, a channel closing with an open transaction loses nothing, and
 * publishes are routed when published (applied on commit).
 */
import { expect } from 'vitest';
import { type FieldValue, str } from '../src/codec/field-table.js';
import { MethodId } from '../src/codec/generated/amqp-spec.js';
import { differentialSuite } from './helpers/differential-suite.js';
import type { RawClient } from './helpers/raw-client.js';
import { exchangeDeclare, queueDeclare, rawScenarios } from './helpers/raw-scenarios.js';
import { uniqueName } from './helpers/targets.js';

type Scenario = (c: RawClient) => Promise<unknown>;

const declare = (queue: string, passive = false) => queueDeclare(queue, { passive });

/** A fresh exclusive queue on channel `ch` holding `bodies`. */
async function queueWith(c: RawClient, ch: number, bodies: readonly string[]): Promise<string> {
  const q = uniqueName('tx');
  c.send(ch, declare(q));
  await c.expectMethod(MethodId.QueueDeclareOk, ch);
  for (const b of bodies) c.publish(ch, '', q, Buffer.from(b));
  return q;
}

async function txSelect(c: RawClient, ch: number): Promise<void> {
  c.send(ch, { id: MethodId.TxSelect });
  await c.expectMethod(MethodId.TxSelectOk, ch);
}

/** basic.get without no-ack; returns the delivery tag. */
async function get(c: RawClient, ch: number, queue: string): Promise<number> {
  c.send(ch, { id: MethodId.BasicGet, ticket: 0, queue, noAck: false });
  return (await c.expectMethod(MethodId.BasicGetOk, ch)).deliveryTag;
}

/** Ready messages in `queue` (passive declare on channel `ch`). */
async function count(c: RawClient, ch: number, queue: string): Promise<number> {
  c.send(ch, declare(queue, true));
  return (await c.expectMethod(MethodId.QueueDeclareOk, ch)).messageCount;
}

/**
 * The queue's count once it reaches `want`, or what it holds after 10 s: RabbitMQ sends tx.commit-ok before
 * every queue has applied the committed requeues, so a count read right after can lag by a moment.
 */
async function countOnceSettled(c: RawClient, ch: number, queue: string, want: number): Promise<number> {
  // Generous for a loaded machine: a correct broker ends the wait at once, a wrong count is still reported.
  const until = Date.now() + 10_000;
  for (;;) {
    const n = await count(c, ch, queue);
    if (n === want || Date.now() > until) return n;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Closes channel `ch` from the client side and waits for close-ok. */
async function closeChannel(c: RawClient, ch: number): Promise<void> {
  c.send(ch, { id: MethodId.ChannelClose, replyCode: 200, replyText: '', classId: 0, methodId: 0 });
  await c.expectMethod(MethodId.ChannelCloseOk, ch);
}

/**
 * The bodies left in `queue`, taken no-ack, with their redelivered flags, once it holds the `want` a correct
 * broker leaves (requeues on a channel's close reach RabbitMQ's queue after close-ok; see countOnceSettled).
 */
async function drain(c: RawClient, ch: number, queue: string, want: number): Promise<[string, boolean][]> {
  await countOnceSettled(c, ch, queue, want);
  const out: [string, boolean][] = [];
  for (;;) {
    c.frames.length = 0;
    c.send(ch, { id: MethodId.BasicGet, ticket: 0, queue, noAck: true });
    await c.until(
      () => c.frames.some((f) => f.method?.id === MethodId.BasicGetEmpty || f.type === 3),
      5000,
      'basic.get answer',
    );
    const ok = c.frames.find((f) => f.method?.id === MethodId.BasicGetOk)?.method;
    if (ok === undefined) return out;
    const body = c.frames.find((f) => f.type === 3)!.payload.toString();
    out.push([body, ok.id === MethodId.BasicGetOk && ok.redelivered]);
  }
}

/** True when the broker closed channel `ch` (a channel.close not yet taken by an expectMethod). */
function channelClosed(c: RawClient, ch: number): boolean {
  return c.frames.some((f) => f.channel === ch && f.method?.id === MethodId.ChannelClose);
}

const scenarios: Record<string, Scenario> = {
  'acks inside a transaction are applied on commit, not before': async (c) => {
    await c.openChannel(1);
    const q = await queueWith(c, 1, ['a', 'b', 'c']);
    await txSelect(c, 1);
    const t1 = await get(c, 1, q);
    await get(c, 1, q);
    const t3 = await get(c, 1, q);
    c.send(1, { id: MethodId.BasicAck, deliveryTag: t1, multiple: false });
    c.send(1, { id: MethodId.BasicReject, deliveryTag: t3, requeue: true });
    const beforeCommit = await count(c, 1, q);
    c.send(1, { id: MethodId.TxCommit });
    await c.expectMethod(MethodId.TxCommitOk, 1);
    const afterCommit = await countOnceSettled(c, 1, q, 1);
    // Closing the channel requeues only what was never settled ('b').
    await closeChannel(c, 1);
    await c.openChannel(2);
    return { beforeCommit, afterCommit, left: await drain(c, 2, q, 2) };
  },

  'tx.rollback gives acked deliveries back; they can be acked again': async (c) => {
    await c.openChannel(1);
    const q = await queueWith(c, 1, ['a', 'b']);
    await txSelect(c, 1);
    const t1 = await get(c, 1, q);
    const t2 = await get(c, 1, q);
    c.send(1, { id: MethodId.BasicAck, deliveryTag: t2, multiple: true });
    c.send(1, { id: MethodId.TxRollback });
    await c.expectMethod(MethodId.TxRollbackOk, 1);
    const afterRollback = await count(c, 1, q);
    // Both tags are unacked again: acking one of them is no error, and commit applies it.
    c.send(1, { id: MethodId.BasicAck, deliveryTag: t1, multiple: false });
    c.send(1, { id: MethodId.TxCommit });
    await c.expectMethod(MethodId.TxCommitOk, 1);
    await closeChannel(c, 1);
    await c.openChannel(2);
    return { afterRollback, left: await drain(c, 2, q, 1) };
  },

  'a second ack of the same tag fails at that ack; the message is requeued': async (c) => {
    await c.openChannel(1);
    const q = await queueWith(c, 1, ['a']);
    await txSelect(c, 1);
    const t = await get(c, 1, q);
    c.send(1, { id: MethodId.BasicAck, deliveryTag: t, multiple: false });
    c.send(1, { id: MethodId.BasicAck, deliveryTag: t, multiple: false });
    const { replyCode, classId, methodId } = await c.expectMethod(MethodId.ChannelClose, 1);
    c.send(1, { id: MethodId.ChannelCloseOk });
    await c.openChannel(2);
    return { close: [replyCode, classId, methodId], left: await drain(c, 2, q, 1) };
  },

  'a channel closed with acks in an open transaction requeues them': async (c) => {
    await c.openChannel(1);
    const q = await queueWith(c, 1, ['a', 'b']);
    await txSelect(c, 1);
    await get(c, 1, q);
    const t2 = await get(c, 1, q);
    c.send(1, { id: MethodId.BasicAck, deliveryTag: t2, multiple: true });
    c.send(1, { id: MethodId.BasicNack, deliveryTag: t2, multiple: false, requeue: false });
    // Both are taken by the first ack: the nack names an unknown tag.
    const { replyCode, classId, methodId } = await c.expectMethod(MethodId.ChannelClose, 1);
    c.send(1, { id: MethodId.ChannelCloseOk });
    await c.openChannel(2);
    return { close: [replyCode, classId, methodId], left: await drain(c, 2, q, 2) };
  },

  'publishes in a transaction are routed when published and delivered on commit': async (c) => {
    await c.openChannel(1);
    await c.openChannel(2);
    const q = await queueWith(c, 1, []);
    const x = uniqueName('tx-x');
    const late = uniqueName('tx-late');
    for (const name of [x, late]) {
      c.send(1, exchangeDeclare(name, 'direct'));
      await c.expectMethod(MethodId.ExchangeDeclareOk, 1);
    }
    c.send(1, {
      id: MethodId.QueueBind,
      ticket: 0,
      queue: q,
      exchange: x,
      routingKey: 'k',
      nowait: false,
      arguments: new Map(),
    });
    await c.expectMethod(MethodId.QueueBindOk, 1);
    await txSelect(c, 1);
    c.publish(1, x, 'k', Buffer.from('routed-then-exchange-deleted'));
    c.publish(1, late, 'k', Buffer.from('bound-after-publish'));
    c.publish(1, '', q, Buffer.from('direct'));
    // Bind the late exchange after its publish, and delete the first one, before the commit.
    c.send(2, {
      id: MethodId.QueueBind,
      ticket: 0,
      queue: q,
      exchange: late,
      routingKey: 'k',
      nowait: false,
      arguments: new Map(),
    });
    await c.expectMethod(MethodId.QueueBindOk, 2);
    for (const name of [x, late]) {
      c.send(2, { id: MethodId.ExchangeDelete, ticket: 0, exchange: name, ifUnused: false, nowait: false });
      await c.expectMethod(MethodId.ExchangeDeleteOk, 2);
    }
    const beforeCommit = await count(c, 2, q);
    c.send(1, { id: MethodId.TxCommit });
    await c.expectMethod(MethodId.TxCommitOk, 1);
    const closed = channelClosed(c, 1);
    return { beforeCommit, closed, delivered: await drain(c, 2, q, 2) };
  },

  'on commit, publishes go to their queues by name: a deleted one returns a mandatory message, a re-declared one gets it':
    async (c) => {
      await c.openChannel(1);
      await c.openChannel(2);
      const gone = await queueWith(c, 1, []);
      const again = await queueWith(c, 1, []);
      await txSelect(c, 1);
      c.publish(1, '', gone, Buffer.from('to-deleted'), {}, 4096, true);
      c.publish(1, '', again, Buffer.from('to-redeclared'), {}, 4096, true);
      for (const q of [gone, again]) {
        c.send(2, {
          id: MethodId.QueueDelete,
          ticket: 0,
          queue: q,
          ifUnused: false,
          ifEmpty: false,
          nowait: false,
        });
        await c.expectMethod(MethodId.QueueDeleteOk, 2);
      }
      c.send(2, declare(again));
      await c.expectMethod(MethodId.QueueDeclareOk, 2);
      c.frames.length = 0;
      c.send(1, { id: MethodId.TxCommit });
      await c.expectMethod(MethodId.TxCommitOk, 1);
      // An empty commit after it: its answer comes after anything the first commit still sends on channel 1.
      c.send(1, { id: MethodId.TxCommit });
      await c.expectMethod(MethodId.TxCommitOk, 1);
      const returned = c.frames
        .filter((f) => f.channel === 1 && f.method?.id === MethodId.BasicReturn)
        .map((f) =>
          f.method?.id === MethodId.BasicReturn ? [f.method.replyCode, f.method.routingKey === gone] : [],
        );
      return { returned, redeclared: await drain(c, 2, again, 1) };
    },

  'a publish refused by a full queue (x-overflow reject-publish) fails the commit: 406 partial tx completion':
    async (c) => {
      await c.openChannel(1);
      await c.openChannel(2);
      const q = uniqueName('tx-full');
      c.send(
        1,
        queueDeclare(q, {
          arguments: new Map<string, FieldValue>([
            ['x-max-length', { type: 'int32', value: 1 }],
            ['x-overflow', str('reject-publish')],
          ]),
        }),
      );
      await c.expectMethod(MethodId.QueueDeclareOk, 1);
      await txSelect(c, 1);
      for (const b of ['a', 'b', 'c']) c.publish(1, '', q, Buffer.from(b));
      c.send(1, { id: MethodId.TxCommit });
      const { replyCode, replyText, classId, methodId } = await c.expectMethod(MethodId.ChannelClose, 1);
      c.send(1, { id: MethodId.ChannelCloseOk });
      // What was accepted stays: the commit applied it before it failed.
      return { close: [replyCode, replyText, classId, methodId], left: await drain(c, 2, q, 1) };
    },
};

differentialSuite('transactions: dispatcher vs RabbitMQ', rawScenarios(scenarios), (server) => {
  expect(server.vhost()?.queueCount).toBe(0);
  expect(server.vhost()?.exchangeCount).toBe(6);
});
