/**
 * The channel against a fake host: no socket, no connection. Frames go in through handleMethod /
 * handleHeader / handleBody; what the channel sends is recorded.
 */

import { noopLogger } from '@dispatcher/core';
import { describe, expect, it } from 'vitest';
import { PermissionStore } from '../auth/permission-store.js';
import { ResourceAccess } from '../auth/resource-access.js';
import { ByteWriter } from '../codec/byte-writer.js';
import { decodeProperties } from '../codec/content-header.js';
import { type FieldTable, str } from '../codec/field-table.js';
import {
  type AmqpMethod,
  type BasicProperties,
  encodeBasicProperties,
  MethodId,
  methodName,
} from '../codec/generated/amqp-spec.js';
import { AmqpError } from '../errors.js';
import type { Message } from '../queue/message.js';
import type { Hold, HoldSource } from '../store/pending-holds.js';
import { type PublishOutcome, type RoutedMessage, VirtualHost } from '../vhost/virtual-host.js';
import { Channel, type ChannelHost } from './channel.js';

interface Sent {
  readonly name: string;
  readonly method: Record<string, unknown>;
  readonly body?: string;
}

/** A vhost whose queues, while `holding`, take a hold on every publish and commit (a durable store). */
class HoldingVhost extends VirtualHost {
  holding = false;
  readonly held: Hold[] = [];

  override publish(
    exchange: string,
    routingKey: string,
    message: Message,
    outcome?: PublishOutcome,
    holds?: HoldSource,
  ): number {
    if (this.holding && holds !== undefined) this.held.push(holds.hold());
    return super.publish(exchange, routingKey, message, outcome, holds);
  }

  override deliver(routed: RoutedMessage, outcome?: PublishOutcome, holds?: HoldSource): number {
    if (this.holding && holds !== undefined) this.held.push(holds.hold());
    return super.deliver(routed, outcome, holds);
  }
}

class FakeHost implements ChannelHost {
  readonly vhost = new HoldingVhost('/');
  readonly access = new ResourceAccess(
    new PermissionStore([{ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' }]),
    'guest',
    '/',
  );
  readonly username = 'guest';
  readonly impersonator = false;
  readonly owner = {};
  readonly strictFieldTypes = false;
  readonly maxMessageBytes = 1000;
  readonly consumerCancelNotify = true;
  readonly log = noopLogger;
  readonly sent: Sent[] = [];
  readonly confirmChannels = new Set<Channel>();
  readonly deferredErrors: unknown[] = [];

  sendMethod(_channel: number, method: AmqpMethod): void {
    this.sent.push({ name: methodName(method.id), method: { ...method } });
  }
  sendContent(_channel: number, method: AmqpMethod, properties: Buffer, body: Buffer): void {
    const { contentType } = decodeProperties(properties);
    this.sent.push({
      name: methodName(method.id),
      method: { ...method, contentType },
      body: body.toString(),
    });
  }
  sendDelivery(_c: number, _tag: Buffer, deliveryTag: number, redelivered: boolean, message: Message): void {
    this.sent.push({
      name: 'basic.deliver',
      method: { deliveryTag, redelivered },
      body: message.body.toString(),
    });
  }
  canWrite(): boolean {
    return true;
  }
  confirmsPending(channel: Channel): void {
    this.confirmChannels.add(channel);
  }
  publishing(): void {}
  congested(): void {}
  runDeferred(channel: Channel, handle: () => void): void {
    try {
      handle();
    } catch (err) {
      if (AmqpError.isAmqpError(err) && err.scope === 'channel') channel.closeWithError(err);
      else this.deferredErrors.push(err);
    }
  }

  /** The end of a read batch: confirms go out. */
  endOfRead(): void {
    for (const ch of this.confirmChannels) ch.flushConfirms();
    this.confirmChannels.clear();
  }

  /** What was sent since the last call, as `name` or `name field=value…` strings. */
  take(...fields: string[]): string[] {
    return this.sent.splice(0).map((s) => {
      const parts = [s.name];
      for (const f of fields) if (f in s.method) parts.push(`${f}=${String(s.method[f])}`);
      if (s.body !== undefined) parts.push(`body=${s.body}`);
      return parts.join(' ');
    });
  }
}

function headerPayload(bodySize: number, properties: BasicProperties = {}, classId = 60): Buffer {
  const w = new ByteWriter(64);
  encodeBasicProperties(w, properties);
  const props = w.toBuffer();
  const b = Buffer.alloc(12 + props.length);
  b.writeUInt16BE(classId, 0);
  b.writeUInt32BE(Math.floor(bodySize / 2 ** 32), 4);
  b.writeUInt32BE(bodySize >>> 0, 8);
  props.copy(b, 12);
  return b;
}

function setup() {
  const host = new FakeHost();
  const ch = new Channel(1, host);
  const method = (m: AmqpMethod) => ch.handleMethod(m);
  const header = (payload: Buffer) => ch.handleHeader(payload, 0, payload.length);
  const body = (text: string) => {
    const b = Buffer.from(text);
    ch.handleBody(b, 0, b.length);
  };
  const startPublish = (routingKey: string, exchange = '', mandatory = false) =>
    method({ id: MethodId.BasicPublish, ticket: 0, exchange, routingKey, mandatory, immediate: false });
  /** basic.publish + header + one body frame per chunk. */
  const publish = (
    routingKey: string,
    chunks: string[],
    options: { exchange?: string; mandatory?: boolean } = {},
  ) => {
    startPublish(routingKey, options.exchange, options.mandatory);
    header(headerPayload(chunks.join('').length));
    for (const c of chunks) body(c);
  };
  const declare = (queue: string, args: FieldTable = new Map()) =>
    method({
      id: MethodId.QueueDeclare,
      ticket: 0,
      queue,
      passive: false,
      durable: false,
      exclusive: false,
      autoDelete: false,
      nowait: false,
      arguments: args,
    });
  const consume = (queue: string, consumerTag: string, noAck = false) =>
    method({
      id: MethodId.BasicConsume,
      ticket: 0,
      queue,
      consumerTag,
      noLocal: false,
      noAck,
      exclusive: false,
      nowait: false,
      arguments: new Map(),
    });
  const get = (queue: string, noAck = true) => method({ id: MethodId.BasicGet, ticket: 0, queue, noAck });
  const ack = (deliveryTag: number, multiple = false) =>
    method({ id: MethodId.BasicAck, deliveryTag, multiple });
  const nack = (deliveryTag: number, requeue: boolean, multiple = false) =>
    method({ id: MethodId.BasicNack, deliveryTag, multiple, requeue });
  const qos = (prefetchCount: number, global = false) =>
    method({ id: MethodId.BasicQos, prefetchSize: 0, prefetchCount, global });
  return { host, ch, method, header, body, startPublish, publish, declare, consume, get, ack, nack, qos };
}

function amqpErrorOf(fn: () => void): AmqpError {
  try {
    fn();
  } catch (err) {
    if (AmqpError.isAmqpError(err)) return err;
    throw err;
  }
  throw new Error('expected an AmqpError');
}

describe('content assembly', () => {
  it('assembles a body sent across several frames into one message, properties kept', () => {
    const t = setup();
    t.declare('q');
    t.startPublish('q');
    t.header(headerPayload(11, { contentType: 'text/plain', headers: new Map([['k', str('v')]]) }));
    t.body('hello');
    t.body(' ');
    t.body('world');
    t.host.take();
    t.get('q');
    expect(t.host.take('contentType')).toEqual(['basic.get-ok contentType=text/plain body=hello world']);
    expect(t.host.vhost.getQueue('q', t.host.owner).messageCount).toBe(0);
  });

  it('publishes a zero-size body on its header alone', () => {
    const t = setup();
    t.declare('q');
    t.startPublish('q');
    t.header(headerPayload(0));
    t.host.take();
    t.get('q');
    expect(t.host.take()).toEqual(['basic.get-ok body=']);
  });

  it('refuses content frames out of order with 505, on the connection', () => {
    const t = setup();
    const noPublish = amqpErrorOf(() => t.header(headerPayload(1)));
    expect([noPublish.replyCode, noPublish.scope]).toEqual([505, 'connection']);
    const bodyFirst = amqpErrorOf(() => t.body('x'));
    expect([bodyFirst.replyCode, bodyFirst.scope]).toEqual([505, 'connection']);
    t.startPublish('q');
    const methodInstead = amqpErrorOf(() => t.get('q'));
    expect([methodInstead.replyCode, methodInstead.scope]).toEqual([505, 'connection']);
    expect(methodInstead.replyText).toContain('expected content header');
  });

  it('refuses a method between the header and the last body frame, and a body before its header', () => {
    const t = setup();
    t.startPublish('q');
    expect(amqpErrorOf(() => t.body('x')).replyCode).toBe(505);
    const u = setup();
    u.startPublish('q');
    u.header(headerPayload(4));
    u.body('ab');
    const err = amqpErrorOf(() => u.get('q'));
    expect(err.replyCode).toBe(505);
    expect(err.replyText).toContain('expected content body');
  });

  it('refuses a header of another class with 505', () => {
    const t = setup();
    t.startPublish('q');
    const err = amqpErrorOf(() => t.header(headerPayload(1, {}, 50)));
    expect([err.replyCode, err.classId, err.methodId]).toEqual([505, 60, 40]);
  });

  it('refuses more body bytes than the header announced with 501', () => {
    const t = setup();
    t.declare('q');
    t.startPublish('q');
    t.header(headerPayload(3));
    t.body('ab');
    const err = amqpErrorOf(() => t.body('cd'));
    expect([err.replyCode, err.scope]).toEqual([501, 'connection']);
    expect(t.host.vhost.getQueue('q', t.host.owner).messageCount).toBe(0);
  });

  it('refuses a body above maxMessageBytes with 406 on the channel, then takes methods again', () => {
    const t = setup();
    t.startPublish('q');
    const err = amqpErrorOf(() => t.header(headerPayload(1001)));
    expect([err.replyCode, err.scope]).toEqual([406, 'channel']);
    t.declare('q2');
    expect(t.host.take()).toEqual(['queue.declare-ok']);
  });

  it('fails malformed properties with 541 only once the content is complete', () => {
    const t = setup();
    t.declare('q');
    t.startPublish('q');
    const bad = headerPayload(2);
    const withFlag = Buffer.concat([bad.subarray(0, 12), Buffer.from([0x80, 0x00])]); // content-type, missing
    t.header(withFlag);
    t.body('a');
    const err = amqpErrorOf(() => t.body('b'));
    expect([err.replyCode, err.scope]).toEqual([541, 'connection']);
    expect(t.host.vhost.getQueue('q', t.host.owner).messageCount).toBe(0);
  });
});

describe('unacked deliveries and credit', () => {
  it('stops at the per-consumer prefetch and delivers again when credit is freed', () => {
    const t = setup();
    t.declare('q');
    for (const b of ['1', '2', '3', '4']) t.publish('q', [b]);
    t.qos(2);
    t.host.take();
    t.consume('q', 'c');
    expect(t.host.take('deliveryTag')).toEqual([
      'basic.consume-ok',
      'basic.deliver deliveryTag=1 body=1',
      'basic.deliver deliveryTag=2 body=2',
    ]);
    expect(t.ch.unackedCount).toBe(2);
    t.ack(1);
    expect(t.host.take('deliveryTag')).toEqual(['basic.deliver deliveryTag=3 body=3']);
    t.ack(3, true);
    expect(t.host.take('deliveryTag')).toEqual(['basic.deliver deliveryTag=4 body=4']);
    expect(t.ch.unackedCount).toBe(1);
  });

  it('shares the global prefetch between consumers; basic.get deliveries use no credit', () => {
    const t = setup();
    t.declare('a');
    t.declare('b');
    for (const b of ['a1', 'a2']) t.publish('a', [b]);
    for (const b of ['b1', 'b2', 'b3']) t.publish('b', [b]);
    t.qos(2, true);
    t.get('b', false);
    t.consume('a', 'ca');
    t.consume('b', 'cb');
    expect(t.host.take().filter((s) => s.startsWith('basic.deliver'))).toHaveLength(2);
    expect(t.ch.unackedCount).toBe(3);
    t.ack(1); // the basic.get delivery: frees no consumer credit
    expect(t.host.take()).toEqual([]);
    t.ack(2);
    expect(t.host.take().filter((s) => s.startsWith('basic.deliver'))).toHaveLength(1);
  });

  it('refuses unknown and already acked tags with 406 on the channel', () => {
    const t = setup();
    t.declare('q');
    t.publish('q', ['x']);
    t.get('q', false);
    t.ack(1);
    const err = amqpErrorOf(() => t.ack(1));
    expect([err.replyCode, err.scope, err.replyText]).toEqual([
      406,
      'channel',
      'PRECONDITION_FAILED - unknown delivery tag 1',
    ]);
  });

  it('requeues nacked deliveries in their original position, redelivered; drops rejected ones', () => {
    const t = setup();
    t.declare('q');
    for (const b of ['1', '2', '3']) t.publish('q', [b]);
    for (let i = 0; i < 3; i++) t.get('q', false);
    t.method({ id: MethodId.BasicReject, deliveryTag: 2, requeue: false });
    t.nack(3, true, true); // 1 and 3
    t.host.take();
    for (let i = 0; i < 3; i++) t.get('q');
    expect(t.host.take('redelivered')).toEqual([
      'basic.get-ok redelivered=true body=1',
      'basic.get-ok redelivered=true body=3',
      'basic.get-empty',
    ]);
  });

  it('requeues every unacked delivery when the channel goes away', () => {
    const t = setup();
    t.declare('q');
    for (const b of ['1', '2']) t.publish('q', [b]);
    t.consume('q', 'c');
    const q = t.host.vhost.getQueue('q', t.host.owner);
    expect([q.messageCount, q.unacked]).toEqual([0, 2]);
    t.ch.teardown();
    expect([q.messageCount, q.unacked, q.consumerCount]).toEqual([2, 0, 0]);
  });
});

describe('publisher confirms', () => {
  const confirmSelect = { id: MethodId.ConfirmSelect, nowait: false } as const;

  it('acks a read batch of publishes with one multiple ack at its end', () => {
    const t = setup();
    t.declare('q');
    t.method(confirmSelect);
    for (const b of ['1', '2', '3']) t.publish('q', [b]);
    expect(t.host.take()).toEqual(['queue.declare-ok', 'confirm.select-ok']);
    t.host.endOfRead();
    expect(t.host.take('deliveryTag', 'multiple')).toEqual(['basic.ack deliveryTag=3 multiple=true']);
    t.publish('q', ['4']);
    t.host.endOfRead();
    expect(t.host.take('deliveryTag', 'multiple')).toEqual(['basic.ack deliveryTag=4 multiple=false']);
  });

  it('sends basic.return before the confirm of an unroutable mandatory publish', () => {
    const t = setup();
    t.method(confirmSelect);
    t.publish('nowhere', ['x'], { mandatory: true });
    t.host.endOfRead();
    expect(t.host.take('replyCode', 'deliveryTag')).toEqual([
      'confirm.select-ok',
      'basic.return replyCode=312 body=x',
      'basic.ack deliveryTag=1',
    ]);
  });

  it('nacks a publish a queue refuses at once, after acking those before it', () => {
    const t = setup();
    const args: FieldTable = new Map([
      ['x-max-length', { type: 'int32', value: 1 }],
      ['x-overflow', str('reject-publish')],
    ]);
    t.declare('q', args);
    t.declare('r');
    t.method(confirmSelect);
    t.host.take();
    t.publish('r', ['1']);
    t.publish('r', ['2']);
    t.publish('q', ['3']);
    t.publish('q', ['4']);
    expect(t.host.take('deliveryTag', 'multiple')).toEqual([
      'basic.ack deliveryTag=3 multiple=true',
      'basic.nack deliveryTag=4 multiple=false',
    ]);
    t.host.endOfRead();
    expect(t.host.take()).toEqual([]);
  });

  it('waits for the holds a durable queue takes, and coalesces only a confirmed prefix', () => {
    const t = setup();
    t.declare('q');
    t.method(confirmSelect);
    t.host.take();
    t.host.vhost.holding = true;
    for (const b of ['1', '2', '3', '4']) t.publish('q', [b]);
    t.host.endOfRead();
    expect(t.host.take()).toEqual([]);
    const [h1, h2, h3, h4] = t.host.vhost.held;
    h2!.release();
    h4!.release();
    t.host.endOfRead();
    expect(t.host.take('deliveryTag', 'multiple')).toEqual([
      'basic.ack deliveryTag=2 multiple=false',
      'basic.ack deliveryTag=4 multiple=false',
    ]);
    h3!.fail();
    expect(t.host.take('deliveryTag')).toEqual(['basic.nack deliveryTag=3']);
    h1!.release();
    t.host.endOfRead();
    expect(t.host.take('deliveryTag', 'multiple')).toEqual(['basic.ack deliveryTag=1 multiple=false']);
  });

  it('forgets pending confirms when the channel closes', () => {
    const t = setup();
    t.declare('q');
    t.method(confirmSelect);
    t.host.vhost.holding = true;
    t.publish('q', ['1']);
    t.method({ id: MethodId.ChannelClose, replyCode: 200, replyText: '', classId: 0, methodId: 0 });
    t.host.take();
    t.host.vhost.held[0]!.release();
    t.host.endOfRead();
    expect(t.host.take()).toEqual([]);
  });
});

describe('transactions', () => {
  const txSelect = { id: MethodId.TxSelect } as const;
  const txCommit = { id: MethodId.TxCommit } as const;
  const txRollback = { id: MethodId.TxRollback } as const;

  it('delivers publishes on commit, not before', () => {
    const t = setup();
    t.declare('q');
    t.method(txSelect);
    t.publish('q', ['1']);
    const q = t.host.vhost.getQueue('q', t.host.owner);
    expect(q.messageCount).toBe(0);
    t.method(txCommit);
    expect(q.messageCount).toBe(1);
    expect(t.host.take()).toEqual(['queue.declare-ok', 'tx.select-ok', 'tx.commit-ok']);
  });

  /** Two basic.get deliveries (tags 1 and 2) waiting for acks, then tx.select. */
  function twoUnackedInTx() {
    const t = setup();
    t.declare('q');
    for (const b of ['1', '2']) t.publish('q', [b]);
    t.get('q', false);
    t.get('q', false);
    t.method(txSelect);
    return { t, q: t.host.vhost.getQueue('q', t.host.owner) };
  }

  it('takes acks out of the unacked set at once (a second ack of the tag: 406), not out of the queue', () => {
    const { t, q } = twoUnackedInTx();
    t.ack(1);
    expect([t.ch.unackedCount, q.unacked]).toEqual([1, 2]);
    expect(amqpErrorOf(() => t.ack(1)).replyCode).toBe(406);
  });

  it('rollback restores the taken deliveries; commit applies them', () => {
    const { t, q } = twoUnackedInTx();
    t.ack(2, true);
    expect(t.ch.unackedCount).toBe(0);
    t.method(txRollback);
    expect([t.ch.unackedCount, q.unacked]).toEqual([2, 2]);
    t.nack(1, true);
    t.ack(2);
    t.method(txCommit);
    expect([t.ch.unackedCount, q.unacked, q.messageCount]).toEqual([0, 0, 1]);
  });

  it('refuses commit and rollback outside tx mode, and switching between tx and confirm mode, with 406', () => {
    const t = setup();
    expect(amqpErrorOf(() => t.method(txCommit)).replyCode).toBe(406);
    expect(amqpErrorOf(() => t.method(txRollback)).replyCode).toBe(406);
    t.method(txSelect);
    expect(amqpErrorOf(() => t.method({ id: MethodId.ConfirmSelect, nowait: false })).replyText).toContain(
      'cannot switch from tx to confirm mode',
    );
  });

  /** A transaction publishing '1' to q, committed while the vhost holds the commit. */
  function committingWithHold() {
    const t = setup();
    t.declare('q');
    t.method(txSelect);
    t.publish('q', ['1']);
    t.host.vhost.holding = true;
    t.method(txCommit);
    return t;
  }

  it('holds commit-ok until the commit holds are released, handling frames that arrive meanwhile afterwards', () => {
    const t = committingWithHold();
    expect(t.ch.state).toBe('committing');
    // The next transaction's publish and a commit arrive before commit-ok.
    t.publish('q', ['2', '3']);
    t.host.vhost.holding = false;
    t.method(txCommit);
    t.get('q');
    expect(t.host.take()).toEqual(['queue.declare-ok', 'tx.select-ok']);
    expect(t.host.vhost.held).toHaveLength(1);
    t.host.vhost.held[0]!.release();
    expect(t.ch.state).toBe('open');
    expect(t.host.take()).toEqual(['tx.commit-ok', 'tx.commit-ok', 'basic.get-ok body=1']);
    expect(t.host.vhost.getQueue('q', t.host.owner).messageCount).toBe(1);
  });

  it('closes the channel with 406 when a commit hold fails', () => {
    const t = committingWithHold();
    t.host.take();
    t.host.vhost.held[0]!.fail();
    expect(t.host.take('replyCode', 'replyText')).toEqual([
      'channel.close replyCode=406 replyText=PRECONDITION_FAILED - partial tx completion',
    ]);
    expect(t.ch.state).toBe('closing');
  });
});
