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
 * The properties are decoded when the header arrives; malformed ones close the connection with 541 once
 * the content is complete (RabbitMQ's moment), and their body is counted, not kept. A body is collected
 * as it arrives (never allocated up front from the size a header announces).
 *
 * Transactions (RabbitMQ's semantics): a publish is routed when it arrives and delivered to those queues (by name)
 * on commit; an ack/nack/reject takes its deliveries out of the unacked set at once (an unknown tag fails
 * there, with 406) and settles them on commit; rollback gives them back, and so does closing the channel
 * (they are requeued like every unacked delivery).
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
import {
  contentBodySize,
  contentClassId,
  decodePublishedProperties,
  PROPERTIES_OFFSET,
} from '../codec/content-header.js';
import { type FieldValue, fieldInteger } from '../codec/field-table.js';
import { shortStrBytes } from '../codec/frame-encoder.js';
import {
  ACCESS_REFUSED,
  type AmqpMethod,
  type BasicProperties,
  type BasicPublish,
  CHANNEL_ERROR,
  COMMAND_INVALID,
  encodeBasicProperties,
  FRAME_ERROR,
  INTERNAL_ERROR,
  MethodId,
  methodName,
  NO_ROUTE,
  NOT_ALLOWED,
  NOT_FOUND,
  NOT_IMPLEMENTED,
  PRECONDITION_FAILED,
  UNEXPECTED_FRAME,
} from '../codec/generated/amqp-spec.js';
import { rabbitTypeName } from '../codec/rabbit-type-name.js';
import { AmqpError, channelError, connectionError } from '../errors.js';
import { Message, PropertyFlag, parseExpiration } from '../queue/message.js';
import type { Queue, QueueConsumer, QueueEntry } from '../queue/queue.js';
import {
  type PublishOutcome,
  REPLY_TO_QUEUE,
  type ReplyConsumer,
  type RoutedMessage,
  type VirtualHost,
} from '../vhost/virtual-host.js';

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

/** Decoded content properties, or why they are malformed (the publish fails once its body is in). */
type DecodedProperties = BasicProperties | AmqpError;

type ContentState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'awaiting-header'; readonly publish: BasicPublish }
  | {
      readonly kind: 'awaiting-body';
      readonly publish: BasicPublish;
      readonly properties: Buffer;
      readonly decoded: DecodedProperties;
      /** The size the header announced. */
      readonly size: number;
      /** Received bytes are `body[0, received)`; it grows as frames arrive, up to `size`. */
      body: Buffer;
      received: number;
    };

interface Unacked {
  readonly tag: number;
  readonly queue: Queue;
  readonly entry: QueueEntry;
  readonly consumer: ChannelConsumer | undefined;
}

/** A publish inside a transaction: routed when it arrived, delivered on commit. */
interface PendingPublish {
  readonly publish: BasicPublish;
  readonly message: Message;
  readonly routed: RoutedMessage;
}

/** Acks/nacks/rejects inside a transaction: their deliveries, already out of the unacked set. */
interface TxOp {
  readonly kind: 'ack' | 'requeue' | 'reject';
  readonly taken: readonly Unacked[];
}

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
  /** Property bytes of the last message published on this channel (shared while they repeat)… */
  #lastProperties: Buffer = Buffer.alloc(0);
  /** …and what they decoded to. */
  #lastDecoded: DecodedProperties = {};
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
    return this.#consumers.size > 0 || this.#usedGet || this.#unacked.size > 0 || this.#txOps.length > 0;
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
        { classId: BASIC_CLASS, methodId: 40 },
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
    const decoded = this.#lastDecoded;
    if (bodySize === 0) {
      this.#content = IDLE;
      this.#publish(content.publish, properties, decoded, Buffer.alloc(0));
      return;
    }
    this.#content = {
      kind: 'awaiting-body',
      publish: content.publish,
      properties,
      decoded,
      size: bodySize,
      body: EMPTY_BODY,
      received: 0,
    };
  }

  /**
   * The property bytes of a content header, copied out of the socket chunk (the message may outlive it),
   * and decoded into `#lastDecoded` — or the previous message's copy and decoding when they are the same
   * bytes (messages never modify either).
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
    this.#lastDecoded = this.#decode(copy);
    return copy;
  }

  /** RabbitMQ fails to decode such properties and closes the connection with 541 (no method named). */
  #decode(raw: Buffer): DecodedProperties {
    try {
      return decodePublishedProperties(raw, this.#host.strictFieldTypes);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return connectionError(INTERNAL_ERROR, `malformed content properties: ${reason}`, { cause: err });
    }
  }

  /** A content body frame for this channel: its payload is `buf[start, end)`. */
  handleBody(buf: Buffer, start: number, end: number): void {
    if (this.#state.kind !== 'open') return;
    const content = this.#content;
    if (content.kind !== 'awaiting-body') {
      throw connectionError(UNEXPECTED_FRAME, `unexpected content body frame on channel ${this.id}`);
    }
    const n = end - start;
    const received = content.received + n;
    if (received > content.size) {
      throw connectionError(
        FRAME_ERROR,
        `content body larger than the ${content.size} bytes announced by its header`,
      );
    }
    // Malformed properties: the message will be refused, so its bytes are only counted.
    if (!AmqpError.isAmqpError(content.decoded)) {
      if (received > content.body.length)
        content.body = grow(content.body, content.received, received, content.size);
      buf.copy(content.body, content.received, start, end);
    }
    content.received = received;
    if (received === content.size) {
      this.#content = IDLE;
      this.#publish(content.publish, content.properties, content.decoded, content.body);
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
    // Deliveries acked in the open transaction were never settled: they are requeued too.
    this.#restoreUnacked(this.#txOps);
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
    if (this.#state.kind !== 'open' || !this.#host.canWrite()) return false;
    if (c.noAck) return true;
    if (c.prefetch !== 0 && c.unacked >= c.prefetch) return false;
    return this.#globalPrefetch === 0 || this.#consumerUnacked < this.#globalPrefetch;
  }

  deliver(c: ChannelConsumer, queue: Queue, entry: QueueEntry): void {
    const tag = this.#nextDeliveryTag++;
    if (c.noAck) {
      queue.settle(entry);
    } else {
      this.#unacked.set(tag, { tag, queue, entry, consumer: c });
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
        // RabbitMQ 3.10 does not implement stopping deliveries this way (where spec and RabbitMQ differ,
        // we follow RabbitMQ).
        if (!m.active) throw connectionError(NOT_IMPLEMENTED, 'active=false');
        host.sendMethod(this.id, { id: MethodId.ChannelFlowOk, active: true });
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
        this.#consume(m.queue, m.consumerTag, m.noAck, m.exclusive, m.nowait, m.arguments.get('x-priority'));
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
        if (this.#mode === 'tx')
          this.#txOps.push({ kind: 'ack', taken: this.#take(m.deliveryTag, m.multiple) });
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
        // Redelivering to the same consumer (requeue=false) is not implemented by RabbitMQ 3.10 either.
        if (!m.requeue) throw connectionError(NOT_IMPLEMENTED, 'requeue=false');
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
        this.#restoreUnacked(this.#txOps);
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
    priorityArg: FieldValue | undefined,
  ): void {
    const host = this.#host;
    if (queueName === REPLY_TO_QUEUE) {
      this.#consumeReplies(tag, noAck, nowait);
      return;
    }
    const queue = host.vhost.getQueue(this.#queueName(queueName), host.owner);
    const priority = fieldInteger(priorityArg);
    if (priorityArg !== undefined && priority === undefined) {
      throw channelError(
        PRECONDITION_FAILED,
        `invalid arg 'x-priority' for queue '${queue.name}' in vhost '${host.vhost.name}': "expected integer, got ${rabbitTypeName(priorityArg)}"`,
      );
    }
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
    const entry = queue.shift(noAck);
    if (entry === undefined) {
      host.sendMethod(this.id, { id: MethodId.BasicGetEmpty, clusterId: '' });
      return;
    }
    const tag = this.#nextDeliveryTag++;
    if (!noAck) {
      queue.unacked++;
      this.#unacked.set(tag, { tag, queue, entry, consumer: undefined });
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

  #publish(publish: BasicPublish, properties: Buffer, decoded: DecodedProperties, body: Buffer): void {
    this.#host.publishing();
    if (publish.immediate)
      throw connectionError(NOT_IMPLEMENTED, 'immediate=true', { classId: 60, methodId: 40 });
    this.#host.vhost.checkPublishable(publish.exchange);
    if (AmqpError.isAmqpError(decoded)) throw decoded;
    let message = new Message(
      publish.exchange,
      publish.routingKey,
      properties,
      body,
      this.#host.strictFieldTypes,
      decoded,
    );
    if (message.has(PropertyFlag.expiration)) checkExpiration(decoded.expiration);
    if (message.has(PropertyFlag.replyTo) && decoded.replyTo === REPLY_TO_QUEUE) {
      message = this.#withReplyTo(message);
    }
    if (this.#mode === 'tx') {
      // Routed now (a missing or internal exchange fails here), delivered on commit: as RabbitMQ.
      const routed = this.#host.vhost.route(publish.exchange, publish.routingKey, message);
      this.#txPublishes.push({ publish, message, routed });
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
    const routed = this.#host.vhost.publish(publish.exchange, publish.routingKey, message, this.#outcome);
    this.#afterRouting(publish, message, routed);
  }

  /** basic.return of an unroutable mandatory message, flow control, publisher confirms. */
  #afterRouting(publish: BasicPublish, message: Message, routed: number): void {
    const outcome = this.#outcome;
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

  /**
   * Applies the transaction. Nothing in it can fail any more (publishes were routed and acks checked when
   * they arrived), so it is applied whole: publishes first, then the acks, nacks and rejects in order.
   */
  #commit(): void {
    const publishes = this.#txPublishes;
    const ops = this.#txOps;
    this.#txPublishes = [];
    this.#txOps = [];
    const vhost = this.#host.vhost;
    for (const p of publishes)
      this.#afterRouting(p.publish, p.message, vhost.deliver(p.routed, this.#outcome));
    const settled: Unacked[] = [];
    for (const op of ops) {
      this.#releaseCredit(op.taken);
      if (op.kind === 'ack') for (const u of op.taken) u.queue.settle(u.entry);
      else if (op.kind === 'requeue') this.#requeue(op.taken);
      else for (const u of op.taken) u.queue.reject(u.entry);
      settled.push(...op.taken);
    }
    this.#afterSettle(settled);
  }

  /** Puts deliveries taken by an uncommitted transaction back into the unacked set, in tag order. */
  #restoreUnacked(ops: readonly TxOp[]): void {
    if (ops.length === 0) return;
    const all = [...this.#unacked.values()];
    for (const op of ops) all.push(...op.taken);
    all.sort((a, b) => a.tag - b.tag);
    this.#unacked.clear();
    for (const u of all) this.#unacked.set(u.tag, u);
  }

  /**
   * Removes and returns the unacked deliveries an ack/nack of (tag, multiple) covers (406 when none is).
   * Their consumers' credit is not released yet (see {@link #releaseCredit}).
   */
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
    return taken;
  }

  /** Settled deliveries no longer count against their consumer's and the channel's prefetch. */
  #releaseCredit(taken: readonly Unacked[]): void {
    for (const u of taken) {
      if (u.consumer !== undefined) {
        u.consumer.unacked--;
        this.#consumerUnacked--;
      }
    }
  }

  #ack(tag: number, multiple: boolean): void {
    if (!multiple) {
      // The common case, without the arrays and sets of the general path.
      const u = this.#unacked.get(tag);
      if (u !== undefined) {
        this.#unacked.delete(tag);
        u.queue.settle(u.entry);
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
    this.#releaseCredit(taken);
    for (const u of taken) u.queue.settle(u.entry);
    this.#afterSettle(taken);
  }

  #nackOrTx(tag: number, multiple: boolean, requeue: boolean): void {
    if (this.#mode === 'tx') {
      this.#txOps.push({ kind: requeue ? 'requeue' : 'reject', taken: this.#take(tag, multiple) });
    } else {
      this.#nack(tag, multiple, requeue);
    }
  }

  #nack(tag: number, multiple: boolean, requeue: boolean): void {
    const taken = this.#take(tag, multiple);
    this.#releaseCredit(taken);
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
    // Deliveries held by an open transaction (basic.recover inside one) keep their credit.
    this.#releaseCredit(all);
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

const EMPTY_BODY = Buffer.alloc(0);

/**
 * A body buffer with room for at least `needed` bytes (its first `used` bytes kept): doubled each time,
 * capped at the announced `size`, so memory follows the bytes that actually arrived.
 */
function grow(body: Buffer, used: number, needed: number, size: number): Buffer {
  const capacity = Math.min(size, Math.max(needed, body.length * 2));
  const bigger = Buffer.allocUnsafe(capacity);
  body.copy(bigger, 0, 0, used);
  return bigger;
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
