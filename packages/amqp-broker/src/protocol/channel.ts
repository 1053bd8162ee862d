/**
 * One AMQP channel of a connection: the channel state machine and method dispatch. The parts live beside
 * it in `channel/`: content assembly ({@link ContentAssembler}), unacked deliveries and consumer credit
 * ({@link UnackedDeliveries}, {@link ChannelConsumer}), publisher confirms ({@link ConfirmTracker}),
 * transactions ({@link Transaction}) and direct reply-to ({@link DirectReplyTo}).
 *
 * Channel state (the connection removes a channel once it is closed):
 *
 *            channel.open                 channel.close (client)  ──▶ close-ok sent, removed
 *   (none) ───────────────▶  open  ──┤
 *                             │  ▲   └──▶ soft error: channel.close sent ──▶ closing ──close-ok──▶ removed
 *                   tx.commit │  │ last commit hold released:                (other frames ignored)
 *                             ▼  │ commit-ok sent, queued frames handled
 *                          committing  (frames from the client are queued; deliveries go on)
 *
 * A commit whose holds are all released at once (the in-memory broker: always) goes straight back to
 * `open` inside tx.commit. Frames queued while committing are handled through
 * {@link ChannelHost.runDeferred}, with the same error handling as frames read from the socket.
 *
 * Deliveries are written through the {@link ChannelHost} (the connection), which re-frames bodies to the
 * connection's frame_max and batches socket writes.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '@dispatcher/core';
import { exchangeDeclareChecks, queueDeclareChecks } from '../auth/declare-checks.js';
import type { ResourceAccess } from '../auth/resource-access.js';
import { type FieldValue, fieldInteger } from '../codec/field-table.js';
import {
  ACCESS_REFUSED,
  type AmqpMethod,
  type BasicPublish,
  CHANNEL_ERROR,
  ClassId,
  COMMAND_INVALID,
  MethodId,
  methodName,
  NO_ROUTE,
  NOT_ALLOWED,
  NOT_FOUND,
  NOT_IMPLEMENTED,
  PRECONDITION_FAILED,
} from '../codec/generated/amqp-spec.js';
import { rabbitTypeName } from '../codec/rabbit-type-name.js';
import { AmqpError, channelError, connectionError } from '../errors.js';
import { Message, PropertyFlag, parseExpiration } from '../queue/message.js';
import type { Queue, QueueEntry } from '../queue/queue.js';
import type { PendingHolds } from '../store/pending-holds.js';
import {
  type DeclareAccess,
  type PublishOutcome,
  REPLY_TO_QUEUE,
  type ReplyConsumer,
  type VirtualHost,
} from '../vhost/virtual-host.js';
import { ChannelConsumer, type ConsumerChannel } from './channel/channel-consumer.js';
import { ConfirmTracker } from './channel/confirm-tracker.js';
import { type AssembledContent, ContentAssembler } from './channel/content-assembler.js';
import { DirectReplyTo } from './channel/direct-reply-to.js';
import { Transaction } from './channel/transaction.js';
import { type SettleKind, type Unacked, UnackedDeliveries } from './channel/unacked-deliveries.js';

/** What a channel needs from its connection. */
export interface ChannelHost {
  readonly vhost: VirtualHost;
  /** The permission checks of the connection's user on its vhost. */
  readonly access: ResourceAccess;
  /** The connection's user name (checked against the `user_id` property). */
  readonly username: string | undefined;
  /** The user may publish with another user's name in `user_id` (tag `impersonator`). */
  readonly impersonator: boolean;
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
  /** The channel has confirms to send: call {@link Channel.flushConfirms} at the end of this read batch. */
  confirmsPending(channel: Channel): void;
  /** A message was published (the memory alarm blocks publishing connections). */
  publishing(): void;
  /** A message went to a queue above its flow watermark: stop reading the publisher until it drains. */
  congested(queue: Queue): void;
  /**
   * Runs `handle` — the channel handling a frame it queued while a commit waited — outside a socket read,
   * with the error handling frames read from the socket get.
   */
  runDeferred(channel: Channel, handle: () => void): void;
}

/** A frame that arrived while a commit waited for its holds (payloads copied out of the socket chunk). */
type QueuedFrame =
  | { readonly type: 'method'; readonly method: AmqpMethod }
  | { readonly type: 'header' | 'body'; readonly payload: Buffer };

type ChannelState =
  | { readonly kind: 'open' }
  | { readonly kind: 'committing'; readonly queued: QueuedFrame[] }
  | { readonly kind: 'closing' }
  | { readonly kind: 'closed' };

const OPEN: ChannelState = { kind: 'open' };
const CLOSING: ChannelState = { kind: 'closing' };
const CLOSED: ChannelState = { kind: 'closed' };

export class Channel implements ReplyConsumer, ConsumerChannel {
  readonly id: number;
  readonly #host: ChannelHost;
  #state: ChannelState = OPEN;
  readonly #content: ContentAssembler;
  readonly #unacked: UnackedDeliveries;
  readonly #replyTo: DirectReplyTo;
  #nextDeliveryTag = 1;
  readonly #consumers = new Map<string, ChannelConsumer>();
  /** Set by confirm.select. */
  #confirms: ConfirmTracker | undefined;
  /** Set by tx.select. */
  #tx: Transaction | undefined;
  /** Name of the last queue declared on this channel (an empty queue name in later methods means it). */
  #lastQueue = '';
  /** Reused for every publish. */
  readonly #outcome: PublishOutcome = { routed: 0, rejected: 0, congested: undefined };
  /** basic.get was used on this channel. */
  #usedGet = false;

  constructor(id: number, host: ChannelHost) {
    this.id = id;
    this.#host = host;
    this.#content = new ContentAssembler({
      channel: id,
      maxMessageBytes: host.maxMessageBytes,
      strictFieldTypes: host.strictFieldTypes,
    });
    this.#unacked = new UnackedDeliveries(() => this.resume());
    this.#replyTo = new DirectReplyTo(host.vhost, this);
  }

  get state(): ChannelState['kind'] {
    return this.#state.kind;
  }

  get consumerCount(): number {
    return this.#consumers.size + (this.#replyTo.tag === undefined ? 0 : 1);
  }

  get unackedCount(): number {
    return this.#unacked.size;
  }

  /** basic.qos prefetch (global=false) of consumers created from now on (0: unlimited). */
  get prefetchCount(): number {
    return this.#unacked.prefetch;
  }

  /** The channel's consumers (management API; the direct reply-to consumer is not listed). */
  consumers(): IterableIterator<ChannelConsumer> {
    return this.#consumers.values();
  }

  /** The channel consumes (consumers, basic.get or unacked messages): flow control never pauses it. */
  get consumes(): boolean {
    return (
      this.#consumers.size > 0 ||
      this.#usedGet ||
      this.#unacked.size > 0 ||
      this.#tx?.holdsDeliveries === true
    );
  }

  /** Open, or open and waiting for a commit: deliveries and confirms go on. */
  #active(): boolean {
    const kind = this.#state.kind;
    return kind === 'open' || kind === 'committing';
  }

  // ---- inbound frames ----------------------------------------------------------------------------

  /** A method frame for this channel. Throws AmqpErrors (channel or connection scope). */
  handleMethod(method: AmqpMethod): void {
    const state = this.#state;
    switch (state.kind) {
      case 'closed':
        return;
      case 'closing':
        // After sending channel.close we wait for close-ok and drop everything else.
        if (method.id === MethodId.ChannelCloseOk) this.#state = CLOSED;
        else if (method.id === MethodId.ChannelClose)
          this.#host.sendMethod(this.id, { id: MethodId.ChannelCloseOk });
        return;
      case 'committing':
        state.queued.push({ type: 'method', method });
        return;
      case 'open':
        break;
      default:
        assertNever(state);
    }
    this.#content.checkMethod(method.id);
    try {
      this.#dispatch(method);
    } catch (err) {
      throw withMethod(err, method.id);
    }
  }

  /** A content header frame for this channel: its payload is `buf[start, end)`. */
  handleHeader(buf: Buffer, start: number, end: number): void {
    this.#handleContent('header', buf, start, end);
  }

  /** A content body frame for this channel: its payload is `buf[start, end)`. */
  handleBody(buf: Buffer, start: number, end: number): void {
    this.#handleContent('body', buf, start, end);
  }

  #handleContent(type: 'header' | 'body', buf: Buffer, start: number, end: number): void {
    const state = this.#state;
    if (state.kind === 'committing') {
      state.queued.push({ type, payload: Buffer.from(buf.subarray(start, end)) });
      return;
    }
    if (state.kind !== 'open') return;
    const content =
      type === 'header' ? this.#content.header(buf, start, end) : this.#content.body(buf, start, end);
    if (content !== undefined) this.#publish(content);
  }

  // ---- closing -----------------------------------------------------------------------------------

  /** Soft error: send channel.close and wait for close-ok; resources are released at once. */
  closeWithError(err: AmqpError): void {
    if (this.#state.kind !== 'open') return;
    this.#host.log.debug({ channel: this.id, replyCode: err.replyCode, err }, 'closing channel on error');
    this.#release();
    this.#state = CLOSING;
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
    this.#state = CLOSED;
  }

  /** Requeues unacked messages and removes consumers. Deliveries stop first. */
  #release(): void {
    if (this.#state.kind === 'closed') return;
    // Closed for delivery purposes before requeueing, so nothing is redelivered to this channel.
    this.#state = CLOSED;
    this.#content.reset();
    this.#confirms?.close();
    // Deliveries acked in the open transaction were never settled: they are requeued too.
    if (this.#tx !== undefined) this.#unacked.restore(this.#tx.rollback());
    this.#unacked.requeueAll();
    this.#replyTo.cancel();
    const consumers = [...this.#consumers.values()];
    this.#consumers.clear();
    for (const c of consumers) c.queue.removeConsumer(c);
  }

  // ---- deliveries (called by queues through ChannelConsumer) -------------------------------------

  canDeliverTo(c: ChannelConsumer): boolean {
    if (!this.#active() || !this.#host.canWrite()) return false;
    return this.#unacked.hasCredit(c);
  }

  deliver(c: ChannelConsumer, queue: Queue, entry: QueueEntry): void {
    const tag = this.#nextDeliveryTag++;
    if (c.noAck) queue.settle(entry);
    else this.#unacked.add(tag, queue, entry, c);
    this.#host.sendDelivery(this.id, c.tagBytes, tag, entry.redelivered, entry.message);
  }

  /** A reply to this channel's direct reply-to consumer (no-ack: nothing to track). */
  deliverReply(m: Message): void {
    const consumerTag = this.#replyTo.tag;
    if (!this.#active() || consumerTag === undefined) return;
    this.#host.sendContent(
      this.id,
      {
        id: MethodId.BasicDeliver,
        consumerTag,
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
    if (this.#active() && this.#host.consumerCancelNotify) {
      this.#host.sendMethod(this.id, { id: MethodId.BasicCancel, consumerTag: c.tag, nowait: true });
    }
  }

  /** Gives every consumer's queue a chance to deliver (after flow on, socket drain, freed credit). */
  resume(): void {
    if (!this.#active()) return;
    for (const c of [...this.#consumers.values()]) c.queue.dispatch();
  }

  /** Sends the publisher confirms that became ready during this read batch (coalesced). */
  flushConfirms(): void {
    if (this.#active()) this.#confirms?.flush();
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
        this.#state = CLOSED;
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
          ...(m.passive ? {} : { access: this.#exchangeAccess() }),
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
        // RabbitMQ refuses the default and amq.* exchanges before it looks at permissions.
        if (m.exchange !== '' && !m.exchange.startsWith('amq.'))
          host.access.check('configure', 'exchange', m.exchange);
        vhost.deleteExchange(m.exchange, m.ifUnused);
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.ExchangeDeleteOk });
        return;
      case MethodId.ExchangeBind:
        this.#checkBind('exchange', m.destination, m.source, m.routingKey);
        vhost.bindExchange(m.destination, m.source, m.routingKey, m.arguments);
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.ExchangeBindOk });
        return;
      case MethodId.ExchangeUnbind:
        this.#checkBind('exchange', m.destination, m.source, m.routingKey);
        vhost.unbindExchange(m.destination, m.source, m.routingKey, m.arguments);
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.ExchangeUnbindOk });
        return;

      case MethodId.QueueDeclare: {
        const result = vhost.declareQueue(
          {
            name: m.queue === '' && m.passive ? this.#lastQueue : m.queue,
            ...(m.passive ? {} : { access: this.#queueAccess() }),
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
        this.#checkBind('queue', this.#queueName(m.queue), m.exchange, m.routingKey);
        vhost.bindQueue(this.#queueName(m.queue), m.exchange, m.routingKey, m.arguments, host.owner);
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.QueueBindOk });
        return;
      case MethodId.QueueUnbind:
        this.#checkBind('queue', this.#queueName(m.queue), m.exchange, m.routingKey);
        vhost.unbindQueue(this.#queueName(m.queue), m.exchange, m.routingKey, m.arguments, host.owner);
        host.sendMethod(this.id, { id: MethodId.QueueUnbindOk });
        return;
      case MethodId.QueuePurge: {
        host.access.check('read', 'queue', this.#queueName(m.queue));
        const count = vhost.purgeQueue(this.#queueName(m.queue), host.owner);
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.QueuePurgeOk, messageCount: count });
        return;
      }
      case MethodId.QueueDelete: {
        host.access.check('configure', 'queue', this.#queueName(m.queue));
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
        this.#unacked.qos(m.prefetchCount, m.global);
        host.sendMethod(this.id, { id: MethodId.BasicQosOk });
        this.resume();
        return;
      case MethodId.BasicConsume:
        this.#consume(m.queue, m.consumerTag, m.noAck, m.exclusive, m.nowait, m.arguments.get('x-priority'));
        return;
      case MethodId.BasicCancel: {
        const c = this.#consumers.get(m.consumerTag);
        if (m.consumerTag === this.#replyTo.tag) this.#replyTo.cancel();
        else if (c !== undefined) {
          this.#consumers.delete(m.consumerTag);
          c.queue.removeConsumer(c);
        }
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.BasicCancelOk, consumerTag: m.consumerTag });
        return;
      }
      case MethodId.BasicPublish:
        // Like RabbitMQ, the exchange and flags are checked once the content has arrived.
        this.#content.start(m);
        return;
      case MethodId.BasicGet:
        this.#get(this.#queueName(m.queue), m.noAck);
        return;
      case MethodId.BasicAck:
        // The common case first, without the arrays of the general path.
        if (this.#tx !== undefined || m.multiple || !this.#unacked.ackOne(m.deliveryTag))
          this.#settle('ack', m.deliveryTag, m.multiple);
        return;
      case MethodId.BasicReject:
        this.#settle(m.requeue ? 'requeue' : 'reject', m.deliveryTag, false);
        return;
      case MethodId.BasicNack:
        this.#settle(m.requeue ? 'requeue' : 'reject', m.deliveryTag, m.multiple);
        return;
      case MethodId.BasicRecoverAsync:
      case MethodId.BasicRecover:
        // Redelivering to the same consumer (requeue=false) is not implemented by RabbitMQ 3.10 either.
        if (!m.requeue) throw connectionError(NOT_IMPLEMENTED, 'requeue=false');
        // Deliveries held by an open transaction keep their credit.
        this.#unacked.requeueAll();
        if (m.id === MethodId.BasicRecover) host.sendMethod(this.id, { id: MethodId.BasicRecoverOk });
        return;

      case MethodId.ConfirmSelect:
        if (this.#tx !== undefined)
          throw channelError(PRECONDITION_FAILED, 'cannot switch from tx to confirm mode');
        this.#confirms ??= new ConfirmTracker({
          ack: (deliveryTag, multiple) => this.#sendConfirm({ id: MethodId.BasicAck, deliveryTag, multiple }),
          nack: (deliveryTag) =>
            this.#sendConfirm({ id: MethodId.BasicNack, deliveryTag, multiple: false, requeue: false }),
          ready: () => host.confirmsPending(this),
        });
        if (!m.nowait) host.sendMethod(this.id, { id: MethodId.ConfirmSelectOk });
        return;
      case MethodId.TxSelect:
        if (this.#confirms !== undefined)
          throw channelError(PRECONDITION_FAILED, 'cannot switch from confirm to tx mode');
        this.#tx ??= new Transaction();
        host.sendMethod(this.id, { id: MethodId.TxSelectOk });
        return;
      case MethodId.TxCommit:
        this.#commit(this.#transaction());
        return;
      case MethodId.TxRollback:
        this.#unacked.restore(this.#transaction().rollback());
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

  /**
   * RabbitMQ's check_user_id_header: `user_id`, when set, must name the logged-in user unless that user
   * has the `impersonator` tag.
   */
  #checkUserId(claimed: string): void {
    const host = this.#host;
    if (claimed === host.username || host.impersonator) return;
    throw channelError(
      PRECONDITION_FAILED,
      `user_id property set to '${claimed}' but authenticated user was '${host.username ?? ''}'`,
      { classId: ClassId.Basic, methodId: 40 },
    );
  }

  /** queue.declare's checks: configure on the queue; read on it and write on its dead-letter exchange. */
  #queueAccess(): DeclareAccess {
    return queueDeclareChecks(this.#host.access);
  }

  /** exchange.declare's checks: configure; read on it and write on its alternate exchange. */
  #exchangeAccess(): DeclareAccess {
    return exchangeDeclareChecks(this.#host.access);
  }

  /**
   * queue.bind/unbind and exchange.bind/unbind: write on the destination, read on the source exchange (in
   * RabbitMQ's order; the default exchange is refused by the vhost before the read check).
   */
  #checkBind(
    destinationKind: 'queue' | 'exchange',
    destination: string,
    source: string,
    routingKey: string,
  ): void {
    const access = this.#host.access;
    access.check('write', destinationKind, destination);
    if (destination === '' && destinationKind === 'exchange') return;
    if (source !== '') access.check('read', 'exchange', source);
    if (source !== '' && access.hasTopicPermissions) this.#checkTopic('read', source, routingKey);
  }

  /** Topic permissions on an existing topic exchange (a missing one fails later with RabbitMQ's 404). */
  #checkTopic(kind: 'write' | 'read', exchange: string, routingKey: string): void {
    const ex = this.#host.vhost.getExchange(exchange);
    if (ex !== undefined) this.#host.access.checkTopic(kind, ex.type, exchange, routingKey);
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
      this.#replyTo.checkConsume(noAck);
      const replyTag = this.#newConsumerTag(tag);
      this.#replyTo.consume(replyTag);
      if (!nowait) host.sendMethod(this.id, { id: MethodId.BasicConsumeOk, consumerTag: replyTag });
      return;
    }
    host.access.check('read', 'queue', this.#queueName(queueName));
    const queue = host.vhost.getQueue(this.#queueName(queueName), host.owner);
    const priority = fieldInteger(priorityArg);
    if (priorityArg !== undefined && priority === undefined) {
      throw channelError(
        PRECONDITION_FAILED,
        `invalid arg 'x-priority' for queue '${queue.name}' in vhost '${host.vhost.name}': "expected integer, got ${rabbitTypeName(priorityArg)}"`,
      );
    }
    const consumerTag = this.#newConsumerTag(tag);
    if (queue.hasExclusiveConsumer() || (exclusive && queue.consumerCount > 0)) {
      throw channelError(
        ACCESS_REFUSED,
        `queue '${queue.name}' in vhost '${host.vhost.name}' in exclusive use`,
      );
    }
    const prefetch = this.#unacked.prefetch;
    const c = new ChannelConsumer(this, consumerTag, queue, noAck, exclusive, priority ?? 0, prefetch);
    this.#consumers.set(consumerTag, c);
    // consume-ok must precede the first delivery.
    if (!nowait) host.sendMethod(this.id, { id: MethodId.BasicConsumeOk, consumerTag });
    queue.addConsumer(c);
  }

  /** The client's tag, or a generated one when it sent none; 530 when the channel already uses it. */
  #newConsumerTag(tag: string): string {
    const consumerTag = tag === '' ? `amq.ctag-${randomBytes(16).toString('base64url')}` : tag;
    if (this.#consumers.has(consumerTag) || consumerTag === this.#replyTo.tag) {
      throw connectionError(NOT_ALLOWED, `attempt to reuse consumer tag '${consumerTag}'`);
    }
    return consumerTag;
  }

  #get(queueName: string, noAck: boolean): void {
    const host = this.#host;
    host.access.check('read', 'queue', queueName);
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
      this.#unacked.add(tag, queue, entry, undefined);
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

  #publish({ publish, properties, decoded, body }: AssembledContent): void {
    const host = this.#host;
    host.publishing();
    if (publish.immediate)
      throw connectionError(NOT_IMPLEMENTED, 'immediate=true', { classId: ClassId.Basic, methodId: 40 });
    host.access.check('write', 'exchange', publish.exchange);
    host.vhost.checkPublishable(publish.exchange);
    if (host.access.hasTopicPermissions) this.#checkTopic('write', publish.exchange, publish.routingKey);
    if (AmqpError.isAmqpError(decoded)) throw decoded;
    if (decoded.userId !== undefined) this.#checkUserId(decoded.userId);
    let message = new Message(
      publish.exchange,
      publish.routingKey,
      properties,
      body,
      host.strictFieldTypes,
      decoded,
    );
    if (message.has(PropertyFlag.expiration)) checkExpiration(decoded.expiration);
    if (message.has(PropertyFlag.replyTo) && decoded.replyTo === REPLY_TO_QUEUE) {
      message = this.#replyTo.rewrite(message);
    }
    if (this.#tx !== undefined) {
      // Routed now (a missing or internal exchange fails here), delivered on commit: as RabbitMQ.
      const routed = host.vhost.route(publish.exchange, publish.routingKey, message);
      this.#tx.publish({ publish, message, routed });
      return;
    }
    const confirm = this.#confirms?.track();
    const routed = host.vhost.publish(publish.exchange, publish.routingKey, message, this.#outcome, confirm);
    this.#afterRouting(publish, message, routed, confirm);
  }

  /** basic.return of an unroutable mandatory message, flow control, then its confirm's own hold. */
  #afterRouting(
    publish: BasicPublish,
    message: Message,
    routed: number,
    confirm: PendingHolds | undefined,
  ): void {
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
    if (confirm === undefined) return;
    // A queue refused it: basic.nack (after the acks that are ready).
    if (outcome.rejected > 0) confirm.fail();
    else confirm.release();
  }

  /** basic.ack/nack/reject: applied now, or taken now and applied on commit inside a transaction. */
  #settle(kind: SettleKind, tag: number, multiple: boolean): void {
    const taken = this.#unacked.take(tag, multiple);
    if (this.#tx !== undefined) this.#tx.settle(kind, taken);
    else this.#unacked.settle(kind, taken);
  }

  #transaction(): Transaction {
    if (this.#tx === undefined) throw channelError(PRECONDITION_FAILED, 'channel is not transactional');
    return this.#tx;
  }

  /**
   * Applies the transaction. Nothing in it can fail any more (publishes were routed and acks checked when
   * they arrived), so it is applied whole: publishes first, then the acks, nacks and rejects in order.
   * tx.commit-ok goes out once the commit's holds are released (at once, in memory).
   */
  #commit(tx: Transaction): void {
    const work = tx.commit((ok) => this.#committed(ok));
    const vhost = this.#host.vhost;
    // A queue refusing a publish (x-overflow reject-publish*) fails the commit, as in RabbitMQ: 406
    // "partial tx completion" once the rest is applied.
    let refused = false;
    for (const p of work.publishes) {
      this.#afterRouting(p.publish, p.message, vhost.deliver(p.routed, this.#outcome, work.holds), undefined);
      if (this.#outcome.rejected > 0) refused = true;
    }
    const settled: Unacked[] = [];
    for (const s of work.settles) {
      this.#unacked.apply(s.kind, s.taken);
      settled.push(...s.taken);
    }
    this.#unacked.wake(settled);
    this.#state = { kind: 'committing', queued: [] };
    if (refused) work.holds.fail();
    else work.holds.release();
  }

  /** The commit's holds are released: commit-ok, then the frames that arrived meanwhile. */
  #committed(ok: boolean): void {
    const state = this.#state;
    if (state.kind !== 'committing') return; // closed meanwhile
    this.#state = OPEN;
    if (!ok) {
      this.closeWithError(
        channelError(PRECONDITION_FAILED, 'partial tx completion', { classId: ClassId.Tx, methodId: 20 }),
      );
      return;
    }
    this.#host.sendMethod(this.id, { id: MethodId.TxCommitOk });
    for (let i = 0; i < state.queued.length; i++) {
      const now = this.#state;
      if (now.kind === 'committing') {
        // Another commit waits: the rest stays queued behind it.
        now.queued.push(...state.queued.slice(i));
        return;
      }
      const frame = state.queued[i]!;
      this.#host.runDeferred(this, () => this.#handleQueued(frame));
    }
  }

  #handleQueued(frame: QueuedFrame): void {
    if (frame.type === 'method') this.handleMethod(frame.method);
    else if (frame.type === 'header') this.handleHeader(frame.payload, 0, frame.payload.length);
    else this.handleBody(frame.payload, 0, frame.payload.length);
  }

  #sendConfirm(method: AmqpMethod): void {
    if (this.#active()) this.#host.sendMethod(this.id, method);
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
    classId: ClassId.Basic,
    methodId: 40,
  });
}

function assertNever(value: never): never {
  throw connectionError(541, `unhandled state ${JSON.stringify(value)}`);
}
