/**
 * One AMQP channel of a connection: method dispatch, content assembly, consumers, deliveries and
 * acknowledgements, QoS, flow, publisher confirms and transactions.
 *
 * Channel state (the connection removes a channel once it is closed):
 *
 *            channel.open                 channel.close (client)  ──▶ close-ok sent, removed
 *   (none) ───────────────▶  open  ──┤
 *                                    └──▶ soft error: channel.close sent ──▶ closing ──close-ok──▶ removed
 *                                                                            (other frames ignored)
 *
 * Content assembly inside `open` (any other frame in between is a 505 UNEXPECTED_FRAME):
 *
 *   idle ──basic.publish──▶ awaiting-header ──header(size 0)──────────────────────────▶ idle (publish)
 *                                            └─header(size n)──▶ awaiting-body ──body…──▶ idle (publish)
 *
 * Deliveries are written through the {@link ChannelHost} (the connection), which re-frames bodies to the
 * connection's frame_max and batches socket writes.
 *
 * Direct reply-to: a no-ack consumer on the `amq.rabbitmq.reply-to` pseudo-queue registers this channel
 * with the vhost under a random token; publishes from this channel with that `reply-to` get it rewritten
 * to `amq.rabbitmq.reply-to.<token>`, and replies published to that name are delivered here directly.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '@dispatcher/core';
import { ByteWriter } from '../codec/byte-writer.js';
import { contentBodySize, contentClassId, PROPERTIES_OFFSET } from '../codec/content-header.js';
import { fieldInteger } from '../codec/field-table.js';
import { shortStrBytes } from '../codec/frame-encoder.js';
import {
  type AmqpMethod,
  type BasicPublish,
  encodeBasicProperties,
  MethodId,
  methodName,
} from '../codec/generated/amqp-spec.js';
import { AmqpError, channelError, connectionError } from '../errors.js';
import { Message, PropertyFlag, parseExpiration } from '../queue/message.js';
import type { Queue, QueueConsumer, QueueEntry } from '../queue/queue.js';
import {
  type PublishOutcome,
  REPLY_TO_QUEUE,
  type ReplyConsumer,
  type VirtualHost,
} from '../vhost/virtual-host.js';

const NO_ROUTE = 312;
const ACCESS_REFUSED = 403;
const NOT_FOUND = 404;
const PRECONDITION_FAILED = 406;
const FRAME_ERROR = 501;
const COMMAND_INVALID = 503;
const CHANNEL_ERROR = 504;
const UNEXPECTED_FRAME = 505;
const NOT_ALLOWED = 530;
const NOT_IMPLEMENTED = 540;
const BASIC_CLASS = 60;

/** What a channel needs from its connection. */
export interface ChannelHost {
  readonly vhost: VirtualHost;
  /** Identity owning exclusive queues (the connection). */
  readonly owner: object;
  readonly strictFieldTypes: boolean;
  readonly maxMessageBytes: number;
  /** The client accepts server-sent basic.cancel (capability consumer_cancel_notify). */
  readonly consumerCancelNotify: boolean;
  readonly log: Logger;
  sendMethod(channel: number, method: AmqpMethod): void;
  sendContent(channel: number, method: AmqpMethod, properties: Buffer, body: Buffer): void;
  /** basic.deliver of `message` with its content; `consumerTag` is the tag as an encoded short string. */
  sendDelivery(
    channel: number,
    consumerTag: Buffer,
    deliveryTag: number,
    redelivered: boolean,
    message: Message,
  ): void;
  /** False while the socket is backed up: consumers wait. */
  canWrite(): boolean;
  /** The channel has confirms to send at the end of this read batch. */
  confirmsPending(channel: Channel): void;
  /** A message was published (the memory alarm blocks publishing connections). */
  publishing(): void;
  /** A message went to a queue above its flow watermark: stop reading the publisher until it drains. */
  congested(queue: Queue): void;
}

type ChannelState = { readonly kind: 'open' } | { readonly kind: 'closing' } | { readonly kind: 'closed' };

type ContentState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'awaiting-header'; readonly publish: BasicPublish }
  | {
      readonly kind: 'awaiting-body';
      readonly publish: BasicPublish;
      readonly properties: Buffer;
      readonly body: Buffer;
      received: number;
    };

interface Unacked {
  readonly queue: Queue;
  readonly entry: QueueEntry;
  readonly consumer: ChannelConsumer | undefined;
}

interface PendingPublish {
  readonly publish: BasicPublish;
  readonly message: Message;
}

type TxOp =
  | { readonly kind: 'ack'; readonly tag: number; readonly multiple: boolean }
  | { readonly kind: 'nack'; readonly tag: number; readonly multiple: boolean; readonly requeue: boolean };

const IDLE: ContentState = { kind: 'idle' };

class ChannelConsumer implements QueueConsumer {
  unacked = 0;
  /** The tag as an AMQP short string (encoded once, written into every basic.deliver). */
  readonly tagBytes: Buffer;

  constructor(
    readonly channel: Channel,
    readonly tag: string,
    readonly queue: Queue,
    readonly noAck: boolean,
    readonly exclusive: boolean,
    readonly priority: number,
    /** Per-consumer prefetch (basic.qos global=false at consume time); 0 = unlimited. */
    readonly prefetch: number,
  ) {
    this.tagBytes = shortStrBytes(tag);
  }

  canDeliver(): boolean {
    return this.channel.canDeliverTo(this);
  }

  deliver(queue: Queue, entry: QueueEntry): void {
    this.channel.deliver(this, queue, entry);
  }

  cancelledByBroker(): void {
    this.channel.consumerCancelledByBroker(this);
  }
}

export class Channel implements ReplyConsumer {
  readonly id: number;
  readonly #host: ChannelHost;
  #state: ChannelState = { kind: 'open' };
  #content: ContentState = IDLE;
  #nextDeliveryTag = 1;
  readonly #unacked = new Map<number, Unacked>();
  readonly #consumers = new Map<string, ChannelConsumer>();
  /** Unacked deliveries made to consumers (global prefetch counts these). */
  #consumerUnacked = 0;
  #prefetch = 0;
  #globalPrefetch = 0;
  #flowActive = true;
  #mode: 'normal' | 'confirm' | 'tx' = 'normal';
  #publishSeq = 0;
  #confirmedUpTo = 0;
  #txPublishes: PendingPublish[] = [];
  #txOps: TxOp[] = [];
  /** Name of the last queue declared on this channel (an empty queue name in later methods means it). */
  #lastQueue = '';
  /** Direct reply-to consumer: its tag and vhost token (undefined when none). */
  #replyTag: string | undefined;
  #replyToken: string | undefined;
  /** Reused for every publish. */
  readonly #outcome: PublishOutcome = { routed: 0, rejected: 0, congested: undefined };
  /** Property bytes of the last message published on this channel (shared while they repeat). */
  #lastProperties: Buffer = Buffer.alloc(0);
  /** basic.get was used on this channel. */
  #usedGet = false;

  constructor(id: number, host: ChannelHost) {
    this.id = id;
    this.#host = host;
  }

  get state(): ChannelState['kind'] {
    return this.#state.kind;
  }

  get consumerCount(): number {
    return this.#consumers.size + (this.#replyTag === undefined ? 0 : 1);
  }

  get unackedCount(): number {
    return this.#unacked.size;
  }

  /** The channel consumes (consumers, basic.get or unacked messages): flow control never pauses it. */
  get consumes(): boolean {
    return this.#consumers.size > 0 || this.#usedGet || this.#unacked.size > 0;
  }

  // ---- inbound frames ----------------------------------------------------------------------------

  /** A method frame for this channel. Throws AmqpErrors (channel or connection scope). */
  handleMethod(method: AmqpMethod): void {
    switch (this.#state.kind) {
      case 'closed':
        return;
      case 'closing':
        // After sending channel.close we wait for close-ok and drop everything else.
        if (method.id === MethodId.ChannelCloseOk) this.#state = { kind: 'closed' };
        else if (method.id === MethodId.ChannelClose)
          this.#host.sendMethod(this.id, { id: MethodId.ChannelCloseOk });
        return;
      case 'open':
        break;
      default:
        assertNever(this.#state);
    }
    if (this.#content.kind !== 'idle') {
      throw connectionError(
        UNEXPECTED_FRAME,
        `expected content ${this.#content.kind === 'awaiting-header' ? 'header' : 'body'} for class ${BASIC_CLASS}, got method ${methodName(method.id)} instead`,
        { classId: method.id >>> 16, methodId: method.id & 0xffff },
      );
    }
    try {
      this.#dispatch(method);
    } catch (err) {
      throw withMethod(err, method.id);
    }
  }

  /** A content header frame for this channel: its payload is `buf[start, end)`. */
  handleHeader(buf: Buffer, start: number, end: number): void {
    if (this.#state.kind !== 'open') return;
    const content = this.#content;
    if (content.kind !== 'awaiting-header') {
      throw connectionError(UNEXPECTED_FRAME, `unexpected content header frame on channel ${this.id}`);
    }
    const classId = contentClassId(buf, start, end);
    const bodySize = contentBodySize(buf, start);
    if (classId !== BASIC_CLASS) {
      throw connectionError(
        UNEXPECTED_FRAME,
        `expected content header for class ${BASIC_CLASS}, got one for class ${classId} instead`,
      );
    }
    if (bodySize > this.#host.maxMessageBytes) {
      this.#content = IDLE;
      throw channelError(
        PRECONDITION_FAILED,
        `message size ${bodySize} is larger than configured max size ${this.#host.maxMessageBytes}`,
        { classId: BASIC_CLASS, methodId: 40 },
      );
    }
    const properties = this.#propertiesOf(buf, start + PROPERTIES_OFFSET, end);
    if (bodySize === 0) {
      this.#content = IDLE;
      this.#publish(content.publish, properties, Buffer.alloc(0));
      return;
    }
    this.#content = {
      kind: 'awaiting-body',
      publish: content.publish,
      properties,
      body: Buffer.allocUnsafe(bodySize),
      received: 0,
    };
  }

  /**
   * The property bytes of a content header, copied out of the socket chunk (the message may outlive it) —
   * or the previous message's copy when they are the same bytes (messages never modify them).
   */
  #propertiesOf(buf: Buffer, start: number, end: number): Buffer {
    const last = this.#lastProperties;
    const n = end - start;
    if (last.length === n) {
      let i = 0;
      while (i < n && last[i] === buf[start + i]) i++;
      if (i === n) return last;
    }
    const copy = Buffer.allocUnsafe(n);
    buf.copy(copy, 0, start, end);
    this.#lastProperties = copy;
    return copy;
  }

  /** A content body frame for this channel: its payload is `buf[start, end)`. */
  handleBody(buf: Buffer, start: number, end: number): void {
    if (this.#state.kind !== 'open') return;
    const content = this.#content;
    if (content.kind !== 'awaiting-body') {
      throw connectionError(UNEXPECTED_FRAME, `unexpected content body frame on channel ${this.id}`);
    }
    if (content.received + (end - start) > content.body.length) {
      throw connectionError(
        FRAME_ERROR,
        `content body larger than the ${content.body.length} bytes announced by its header`,
      );
    }
    content.received += buf.copy(content.body, content.received, start, end);
    if (content.received === content.body.length) {
      this.#content = IDLE;
      this.#publish(content.publish, content.properties, content.body);
    }
  }

  // ---- closing -----------------------------------------------------------------------------------

  /** Soft error: send channel.close and wait for close-ok; resources are released at once. */
  closeWithError(err: AmqpError): void {
    if (this.#state.kind !== 'open') return;
    this.#host.log.debug({ channel: this.id, replyCode: err.replyCode, err }, 'closing channel on error');
    this.#release();
    this.#state = { kind: 'closing' };
    this.#host.sendMethod(this.id, {
      id: MethodId.ChannelClose,
      replyCode: err.replyCode,
      replyText: err.replyText,
      classId: err.classId,
      methodId: err.methodId,
    });
  }

  /** The connection is going away: release everything without talking to the client. */
  teardown(): void {
    if (this.#state.kind === 'closed') return;
    this.#release();
    this.#state = { kind: 'closed' };
  }

  /** Requeues unacked messages and removes consumers. Deliveries stop first. */
  #release(): void {
    if (this.#state.kind === 'closed') return;
    // Mark closed for delivery purposes before requeueing, so nothing is redelivered to this channel.
    const previous = this.#state;
    this.#state = { kind: 'closed' };
    this.#content = IDLE;
    this.#txPublishes = [];
    this.#txOps = [];
    this.#requeueAll();
    this.#removeReplyConsumer();
    const consumers = [...this.#consumers.values()];
    this.#consumers.clear();
    for (const c of consumers) c.queue.removeConsumer(c);
    this.#state = previous;
  }

  // ---- deliveries (called by queues through ChannelConsumer) -------------------------------------

  canDeliverTo(c: ChannelConsumer): boolean {
    if (this.#state.kind !== 'open' || !this.#flowActive || !this.#host.canWrite()) return false;
    if (c.noAck) return true;
    if (c.prefetch !== 0 && c.unacked >= c.prefetch) return false;
    return this.#globalPrefetch === 0 || this.#consumerUnacked < this.#globalPrefetch;
  }

  deliver(c: ChannelConsumer, queue: Queue, entry: QueueEntry): void {
    const tag = this.#nextDeliveryTag++;
    if (c.noAck) {
      queue.settle();
    } else {
      this.#unacked.set(tag, { queue, entry, consumer: c });
      c.unacked++;
      this.#consumerUnacked++;
    }
    this.#host.sendDelivery(this.id, c.tagBytes, tag, entry.redelivered, entry.message);
  }

  /** A reply to this channel's direct reply-to consumer (no-ack: nothing to track). */
  deliverReply(m: Message): void {
    if (this.#state.kind !== 'open' || this.#replyTag === undefined) return;
    this.#host.sendContent(
      this.id,
      {
        id: MethodId.BasicDeliver,
        consumerTag: this.#replyTag,
        deliveryTag: this.#nextDeliveryTag++,
        redelivered: false,
        exchange: m.exchange,
        routingKey: m.routingKey,
      },
      m.rawProperties,
      m.body,
    );
  }

  consumerCancelledByBroker(c: ChannelConsumer): void {
    if (this.#consumers.get(c.tag) !== c) return;
    this.#consumers.delete(c.tag);
    if (this.#state.kind === 'open' && this.#host.consumerCancelNotify) {
      this.#host.sendMethod(this.id, { id: MethodId.BasicCancel, consumerTag: c.tag, nowait: true });
    }
  }

  /** Gives every consumer's queue a chance to deliver (after flow on, socket drain, freed credit). */
  resume(): void {
    if (this.#state.kind !== 'open') return;
    for (const c of [...this.#consumers.values()]) c.queue.dispatch();
  }

  /** Sends the publisher confirms accumulated during this read batch as one (multiple) ack. */
  flushConfirms(): void {
    if (this.#state.kind !== 'open' || this.#confirmedUpTo >= this.#publishSeq) return;
    const multiple = this.#publishSeq - this.#confirmedUpTo > 1;
    this.#confirmedUpTo = this.#publishSeq;
    this.#host.sendMethod(this.id, { id: MethodId.BasicAck, deliveryTag: this.#publishSeq, multiple });
  }

  // ---- method dispatch ---------------------------------------------------------------------------

  #dispatch(m: AmqpMethod): void {
    const host = this.#host;
    const vhost = host.vhost;
    switch (m.id) {
      case MethodId.ChannelOpen:
        throw connectionError(CHANNEL_ERROR, `second 'channel.open' seen on channel ${this.id}`);
      case MethodId.ChannelFlow:
        this.#flowActive = m.active;
        host.sendMethod(this.id, { id: MethodId.ChannelFlowOk, active: m.active });
        if (m.active) this.resume();
        return;
      case MethodId.ChannelFlowOk:
        // We never send channel.flow: nothing to do.
        return;
      case MethodId.ChannelClose:
        this.#release();
        this.#state = { kind: 'closed' };
        host.sendMethod(this.id, { id: MethodId.ChannelCloseOk });
        return;
      case MethodId.ChannelCloseOk:
        // Only meaningful in `closing`; RabbitMQ ignores a stray one too.
        return;
      case MethodId.AccessRequest:
        host.sendMethod(this.id, { id: MethodId.AccessRequestOk, ticket: 1 });
        return;

      case MethodId.ExchangeDeclare:
        vhost.declareExchange({
          name: m.exchange,
          type: m.type,
          passive: m.passive,
          durable: m.durable,
          autoDelete: m.autoDelete,
          internal: m.internal,
          arguments: m.arguments,
        });
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.ExchangeDeclareOk });
        return;
      case MethodId.ExchangeDelete:
        vhost.deleteExchange(m.exchange, m.ifUnused);
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.ExchangeDeleteOk });
        return;
      case MethodId.ExchangeBind:
        vhost.bindExchange(m.destination, m.source, m.routingKey, m.arguments);
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.ExchangeBindOk });
        return;
      case MethodId.ExchangeUnbind:
        vhost.unbindExchange(m.destination, m.source, m.routingKey, m.arguments);
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.ExchangeUnbindOk });
        return;

      case MethodId.QueueDeclare: {
        const result = vhost.declareQueue(
          {
            name: m.queue === '' && m.passive ? this.#lastQueue : m.queue,
            passive: m.passive,
            durable: m.durable,
            exclusive: m.exclusive,
            autoDelete: m.autoDelete,
            arguments: m.arguments,
          },
          host.owner,
        );
        this.#lastQueue = result.name;
        if (!m.nowait) {
          host.sendMethod(this.id, {
            id: MethodId.QueueDeclareOk,
            queue: result.name,
            messageCount: result.messageCount,
            consumerCount: result.consumerCount,
          });
        }
        return;
      }
      case MethodId.QueueBind:
        vhost.bindQueue(this.#queueName(m.queue), m.exchange, m.routingKey, m.arguments, host.owner);
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.QueueBindOk });
        return;
      case MethodId.QueueUnbind:
        vhost.unbindQueue(this.#queueName(m.queue), m.exchange, m.routingKey, m.arguments, host.owner);
        host.sendMethod(this.id, { id: MethodId.QueueUnbindOk });
        return;
      case MethodId.QueuePurge: {
        const count = vhost.purgeQueue(this.#queueName(m.queue), host.owner);
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.QueuePurgeOk, messageCount: count });
        return;
      }
      case MethodId.QueueDelete: {
        const count = vhost.deleteQueue(this.#queueName(m.queue), m.ifUnused, m.ifEmpty, host.owner);
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.QueueDeleteOk, messageCount: count });
        return;
      }

      case MethodId.BasicQos:
        if (m.prefetchSize !== 0) {
          throw connectionError(NOT_IMPLEMENTED, `prefetch_size!=0 (${m.prefetchSize})`);
        }
        // RabbitMQ's reinterpretation: global=false limits each consumer created afterwards,
        // global=true limits the channel as a whole.
        if (m.global) this.#globalPrefetch = m.prefetchCount;
        else this.#prefetch = m.prefetchCount;
        host.sendMethod(this.id, { id: MethodId.BasicQosOk });
        this.resume();
        return;
      case MethodId.BasicConsume:
        this.#consume(
          m.queue,
          m.consumerTag,
          m.noAck,
          m.exclusive,
          m.nowait,
          fieldInteger(m.arguments.get('x-priority')),
        );
        return;
      case MethodId.BasicCancel: {
        const c = this.#consumers.get(m.consumerTag);
        if (m.consumerTag === this.#replyTag) this.#removeReplyConsumer();
        else if (c !== undefined) {
          this.#consumers.delete(m.consumerTag);
          c.queue.removeConsumer(c);
        }
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.BasicCancelOk, consumerTag: m.consumerTag });
        return;
      }
      case MethodId.BasicPublish:
        // Like RabbitMQ, the exchange and flags are checked once the content has arrived.
        this.#content = { kind: 'awaiting-header', publish: m };
        return;
      case MethodId.BasicGet:
        this.#get(this.#queueName(m.queue), m.noAck);
        return;
      case MethodId.BasicAck:
        if (this.#mode === 'tx') this.#txOps.push({ kind: 'ack', tag: m.deliveryTag, multiple: m.multiple });
        else this.#ack(m.deliveryTag, m.multiple);
        return;
      case MethodId.BasicReject:
        this.#nackOrTx(m.deliveryTag, false, m.requeue);
        return;
      case MethodId.BasicNack:
        this.#nackOrTx(m.deliveryTag, m.multiple, m.requeue);
        return;
      case MethodId.BasicRecoverAsync:
      case MethodId.BasicRecover:
        // RabbitMQ requeues in both cases (requeue=false is treated like requeue=true).
        this.#requeueAll();
        if (m.id === MethodId.BasicRecover) host.sendMethod(this.id, { id: MethodId.BasicRecoverOk });
        return;

      case MethodId.ConfirmSelect:
        if (this.#mode === 'tx')
          throw channelError(PRECONDITION_FAILED, 'cannot switch from tx to confirm mode');
        this.#mode = 'confirm';
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.ConfirmSelectOk });
        return;
      case MethodId.TxSelect:
        if (this.#mode === 'confirm')
          throw channelError(PRECONDITION_FAILED, 'cannot switch from confirm to tx mode');
        this.#mode = 'tx';
        host.sendMethod(this.id, { id: MethodId.TxSelectOk });
        return;
      case MethodId.TxCommit:
        if (this.#mode !== 'tx') throw channelError(PRECONDITION_FAILED, 'channel is not transactional');
        this.#commit();
        host.sendMethod(this.id, { id: MethodId.TxCommitOk });
        return;
      case MethodId.TxRollback:
        if (this.#mode !== 'tx') throw channelError(PRECONDITION_FAILED, 'channel is not transactional');
        this.#txPublishes = [];
        this.#txOps = [];
        host.sendMethod(this.id, { id: MethodId.TxRollbackOk });
        return;

      // Connection-class methods belong on channel 0; the rest are sent by servers only.
      case MethodId.ConnectionStart:
      case MethodId.ConnectionStartOk:
      case MethodId.ConnectionSecure:
      case MethodId.ConnectionSecureOk:
      case MethodId.ConnectionTune:
      case MethodId.ConnectionTuneOk:
      case MethodId.ConnectionOpen:
      case MethodId.ConnectionOpenOk:
      case MethodId.ConnectionClose:
      case MethodId.ConnectionCloseOk:
      case MethodId.ConnectionBlocked:
      case MethodId.ConnectionUnblocked:
      case MethodId.ConnectionUpdateSecret:
      case MethodId.ConnectionUpdateSecretOk:
      case MethodId.ChannelOpenOk:
      case MethodId.AccessRequestOk:
      case MethodId.ExchangeDeclareOk:
      case MethodId.ExchangeDeleteOk:
      case MethodId.ExchangeBindOk:
      case MethodId.ExchangeUnbindOk:
      case MethodId.QueueDeclareOk:
      case MethodId.QueueBindOk:
      case MethodId.QueuePurgeOk:
      case MethodId.QueueDeleteOk:
      case MethodId.QueueUnbindOk:
      case MethodId.BasicQosOk:
      case MethodId.BasicConsumeOk:
      case MethodId.BasicCancelOk:
      case MethodId.BasicReturn:
      case MethodId.BasicDeliver:
      case MethodId.BasicGetOk:
      case MethodId.BasicGetEmpty:
      case MethodId.BasicRecoverOk:
      case MethodId.TxSelectOk:
      case MethodId.TxCommitOk:
      case MethodId.TxRollbackOk:
      case MethodId.ConfirmSelectOk:
        throw connectionError(
          COMMAND_INVALID,
          `method ${methodName(m.id)} is not allowed on channel ${this.id}`,
        );
      default:
        assertNever(m);
    }
  }

  #queueName(name: string): string {
    if (name !== '') return name;
    if (this.#lastQueue === '') {
      throw channelError(NOT_FOUND, 'no previously declared queue');
    }
    return this.#lastQueue;
  }

  #consume(
    queueName: string,
    tag: string,
    noAck: boolean,
    exclusive: boolean,
    nowait: boolean,
    priority: number | undefined,
  ): void {
    const host = this.#host;
    if (queueName === REPLY_TO_QUEUE) {
      this.#consumeReplies(tag, noAck, nowait);
      return;
    }
    const queue = host.vhost.getQueue(this.#queueName(queueName), host.owner);
    const consumerTag = tag === '' ? `amq.ctag-${randomBytes(16).toString('base64url')}` : tag;
    if (this.#consumers.has(consumerTag) || consumerTag === this.#replyTag) {
      throw connectionError(NOT_ALLOWED, `attempt to reuse consumer tag '${consumerTag}'`);
    }
    if (queue.hasExclusiveConsumer() || (exclusive && queue.consumerCount > 0)) {
      throw channelError(
        ACCESS_REFUSED,
        `queue '${queue.name}' in vhost '${host.vhost.name}' in exclusive use`,
      );
    }
    const c = new ChannelConsumer(this, consumerTag, queue, noAck, exclusive, priority ?? 0, this.#prefetch);
    this.#consumers.set(consumerTag, c);
    // consume-ok must precede the first delivery.
    if (!nowait) host.sendMethod(this.id, { id: MethodId.BasicConsumeOk, consumerTag });
    queue.addConsumer(c);
  }

  #consumeReplies(tag: string, noAck: boolean, nowait: boolean): void {
    if (!noAck) throw channelError(PRECONDITION_FAILED, 'reply consumer cannot acknowledge');
    if (this.#replyTag !== undefined) throw channelError(PRECONDITION_FAILED, 'reply consumer already set');
    const consumerTag = tag === '' ? `amq.ctag-${randomBytes(16).toString('base64url')}` : tag;
    if (this.#consumers.has(consumerTag)) {
      throw connectionError(NOT_ALLOWED, `attempt to reuse consumer tag '${consumerTag}'`);
    }
    this.#replyTag = consumerTag;
    this.#replyToken = this.#host.vhost.addReplyConsumer(this);
    if (!nowait) this.#host.sendMethod(this.id, { id: MethodId.BasicConsumeOk, consumerTag });
  }

  #removeReplyConsumer(): void {
    if (this.#replyToken !== undefined) this.#host.vhost.removeReplyConsumer(this.#replyToken);
    this.#replyToken = undefined;
    this.#replyTag = undefined;
  }

  #get(queueName: string, noAck: boolean): void {
    const host = this.#host;
    const queue = host.vhost.getQueue(queueName, host.owner);
    this.#usedGet = true;
    const entry = queue.shift();
    if (entry === undefined) {
      host.sendMethod(this.id, { id: MethodId.BasicGetEmpty, clusterId: '' });
      return;
    }
    const tag = this.#nextDeliveryTag++;
    if (!noAck) {
      queue.unacked++;
      this.#unacked.set(tag, { queue, entry, consumer: undefined });
    }
    const m = entry.message;
    host.sendContent(
      this.id,
      {
        id: MethodId.BasicGetOk,
        deliveryTag: tag,
        redelivered: entry.redelivered,
        exchange: m.exchange,
        routingKey: m.routingKey,
        messageCount: queue.messageCount,
      },
      m.rawProperties,
      m.body,
    );
  }

  #publish(publish: BasicPublish, properties: Buffer, body: Buffer): void {
    this.#host.publishing();
    if (publish.immediate)
      throw connectionError(NOT_IMPLEMENTED, 'immediate=true', { classId: 60, methodId: 40 });
    this.#host.vhost.checkPublishable(publish.exchange);
    let message = new Message(
      publish.exchange,
      publish.routingKey,
      properties,
      body,
      this.#host.strictFieldTypes,
    );
    if (message.has(PropertyFlag.expiration)) checkExpiration(message.properties.expiration);
    if (message.has(PropertyFlag.replyTo) && message.properties.replyTo === REPLY_TO_QUEUE) {
      message = this.#withReplyTo(message);
    }
    if (this.#mode === 'tx') {
      this.#txPublishes.push({ publish, message });
      return;
    }
    this.#route(publish, message);
  }

  /** Rewrites `reply-to: amq.rabbitmq.reply-to` to this channel's reply name (406 without a consumer). */
  #withReplyTo(message: Message): Message {
    if (this.#replyToken === undefined) {
      throw channelError(PRECONDITION_FAILED, 'fast reply consumer does not exist', {
        classId: BASIC_CLASS,
        methodId: 40,
      });
    }
    const w = new ByteWriter(message.rawProperties.length + 32, message.strict);
    encodeBasicProperties(w, { ...message.properties, replyTo: `${REPLY_TO_QUEUE}.${this.#replyToken}` });
    return new Message(message.exchange, message.routingKey, w.toBuffer(), message.body, message.strict);
  }

  #route(publish: BasicPublish, message: Message): void {
    const outcome = this.#outcome;
    const routed = this.#host.vhost.publish(publish.exchange, publish.routingKey, message, outcome);
    if (routed === 0 && publish.mandatory) {
      this.#host.sendContent(
        this.id,
        {
          id: MethodId.BasicReturn,
          replyCode: NO_ROUTE,
          replyText: 'NO_ROUTE',
          exchange: publish.exchange,
          routingKey: publish.routingKey,
        },
        message.rawProperties,
        message.body,
      );
    }
    if (outcome.congested !== undefined) this.#host.congested(outcome.congested);
    if (this.#mode === 'confirm') {
      this.#publishSeq++;
      if (outcome.rejected > 0) this.#nackPublish(this.#publishSeq);
      else this.#host.confirmsPending(this);
    }
  }

  /** A queue refused publish `seq`: confirm what came before, then basic.nack it. */
  #nackPublish(seq: number): void {
    if (this.#confirmedUpTo < seq - 1) {
      this.#host.sendMethod(this.id, {
        id: MethodId.BasicAck,
        deliveryTag: seq - 1,
        multiple: seq - 1 - this.#confirmedUpTo > 1,
      });
    }
    this.#host.sendMethod(this.id, {
      id: MethodId.BasicNack,
      deliveryTag: seq,
      multiple: false,
      requeue: false,
    });
    this.#confirmedUpTo = seq;
  }

  #commit(): void {
    const publishes = this.#txPublishes;
    const ops = this.#txOps;
    this.#txPublishes = [];
    this.#txOps = [];
    for (const p of publishes) this.#route(p.publish, p.message);
    for (const op of ops) {
      if (op.kind === 'ack') this.#ack(op.tag, op.multiple);
      else this.#nack(op.tag, op.multiple, op.requeue);
    }
  }

  /** Removes and returns the unacked deliveries an ack/nack of (tag, multiple) covers. */
  #take(tag: number, multiple: boolean): Unacked[] {
    const taken: Unacked[] = [];
    if (multiple) {
      for (const [t, u] of this.#unacked) {
        if (tag !== 0 && t > tag) break;
        this.#unacked.delete(t);
        taken.push(u);
      }
    } else {
      const u = this.#unacked.get(tag);
      if (u !== undefined) {
        this.#unacked.delete(tag);
        taken.push(u);
      }
    }
    if (taken.length === 0 && !(multiple && tag === 0)) {
      throw channelError(PRECONDITION_FAILED, `unknown delivery tag ${tag}`);
    }
    for (const u of taken) {
      if (u.consumer !== undefined) {
        u.consumer.unacked--;
        this.#consumerUnacked--;
      }
    }
    return taken;
  }

  #ack(tag: number, multiple: boolean): void {
    if (!multiple) {
      // The common case, without the arrays and sets of the general path.
      const u = this.#unacked.get(tag);
      if (u !== undefined) {
        this.#unacked.delete(tag);
        u.queue.settle();
        if (u.consumer !== undefined) {
          u.consumer.unacked--;
          this.#consumerUnacked--;
        }
        if (this.#globalPrefetch !== 0) this.resume();
        else if (u.consumer !== undefined) u.queue.dispatch();
        return;
      }
    }
    const taken = this.#take(tag, multiple);
    for (const u of taken) u.queue.settle();
    this.#afterSettle(taken);
  }

  #nackOrTx(tag: number, multiple: boolean, requeue: boolean): void {
    if (this.#mode === 'tx') this.#txOps.push({ kind: 'nack', tag, multiple, requeue });
    else this.#nack(tag, multiple, requeue);
  }

  #nack(tag: number, multiple: boolean, requeue: boolean): void {
    const taken = this.#take(tag, multiple);
    if (requeue) this.#requeue(taken);
    else for (const u of taken) u.queue.reject(u.entry);
    this.#afterSettle(taken);
  }

  /** Credit was freed: let the affected queues deliver again. */
  #afterSettle(taken: readonly Unacked[]): void {
    if (taken.length === 0) return;
    if (this.#globalPrefetch !== 0) {
      this.resume();
      return;
    }
    const queues = new Set<Queue>();
    for (const u of taken) if (u.consumer !== undefined) queues.add(u.queue);
    for (const q of queues) q.dispatch();
  }

  #requeueAll(): void {
    const all = [...this.#unacked.values()];
    this.#unacked.clear();
    for (const u of all) {
      if (u.consumer !== undefined) u.consumer.unacked--;
    }
    this.#consumerUnacked = 0;
    this.#requeue(all);
  }

  #requeue(entries: readonly Unacked[]): void {
    const byQueue = new Map<Queue, QueueEntry[]>();
    for (const u of entries) {
      let list = byQueue.get(u.queue);
      if (list === undefined) {
        list = [];
        byQueue.set(u.queue, list);
      }
      list.push(u.entry);
    }
    for (const [q, list] of byQueue) q.requeue(list);
  }
}

/** Fills in the class and method of the method being handled when the error does not name one. */
function withMethod(err: unknown, id: number): unknown {
  if (AmqpError.isAmqpError(err) && err.classId === 0 && err.methodId === 0)
    err.setMethod(id >>> 16, id & 0xffff);
  return err;
}

/** RabbitMQ refuses an `expiration` that is not a non-negative integer with 406. */
function checkExpiration(value: string | undefined): void {
  if (value === undefined || parseExpiration(value) >= 0) return;
  const problem = /^-\d+$/.test(value) ? `{value_negative,${value}}` : 'no_integer';
  throw channelError(PRECONDITION_FAILED, `invalid expiration '${value}': ${problem}`, {
    classId: BASIC_CLASS,
    methodId: 40,
  });
}

function assertNever(value: never): never {
  throw connectionError(541, `unhandled state ${JSON.stringify(value)}`);
}
