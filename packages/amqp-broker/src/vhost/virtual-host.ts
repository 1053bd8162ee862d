/**
 * A virtual host: its exchanges, queues and bindings, and the AMQP semantics of declaring, binding,
 * deleting and routing. Failures throw channel-level {@link AmqpError}s with RabbitMQ's reply codes and
 * (close to) RabbitMQ's reply texts; the protocol layer turns them into channel.close.
 *
 * Routing a message: the exchange's bindings give queues and exchanges (exchange-to-exchange bindings,
 * followed once per exchange); an exchange that routes nowhere hands the message to its
 * `alternate-exchange`. The routing key and the `CC`/`BCC` keys are all routed. Queues dead-letter
 * through here too, and direct reply-to (`amq.rabbitmq.reply-to.<token>`) is resolved here.
 */
import { randomBytes } from 'node:crypto';
import { type Logger, noopLogger } from '@dispatcher/core';
import { type FieldTable, type FieldValue, fieldString } from '../codec/field-table.js';
import {
  ACCESS_REFUSED,
  ClassId,
  COMMAND_INVALID,
  NOT_FOUND,
  PRECONDITION_FAILED,
  RESOURCE_LOCKED,
} from '../codec/generated/amqp-spec.js';
import { channelError, connectionError } from '../errors.js';
import { createExchange, isExchangeType } from '../exchange/create-exchange.js';
import type { Destination, Exchange } from '../exchange/exchange.js';
import { headersMatchMode } from '../exchange/headers-exchange.js';
import { type DeadLetterReason, deadLetteredMessage, isDeadLetterCycle } from '../queue/dead-letter.js';
import { MemoryGauge } from '../queue/memory-gauge.js';
import type { Message } from '../queue/message.js';
import { Queue, type QueueStoreHooks } from '../queue/queue.js';
import type { VhostDefinitions } from '../store/definitions-file.js';
import type { MessageStore } from '../store/message-store.js';
import type { HoldSource } from '../store/pending-holds.js';
import { assertArgumentsEquivalent } from './argument-equivalence.js';
import { QUEUE_EQUIVALENCE_ARGUMENTS, validateQueueArguments } from './queue-arguments.js';
import { withSenderSelectedKeys } from './sender-selected-keys.js';

/**
 * Permission checks a declaration runs at RabbitMQ's points: `configure` once the name is known (before
 * the lookup), `creating` when the entity does not exist yet (RabbitMQ then checks the permissions an
 * `alternate-exchange` / `x-dead-letter-exchange` argument needs). Both throw to refuse.
 */
export interface DeclareAccess {
  configure(name: string): void;
  creating(name: string, args: FieldTable): void;
}

export interface ExchangeDeclare {
  readonly name: string;
  /** Permission checks (none when undefined). */
  readonly access?: DeclareAccess;
  readonly type: string;
  readonly passive: boolean;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: FieldTable;
}

export interface QueueDeclare {
  readonly name: string;
  /** Permission checks (none when undefined; a passive declaration needs none). */
  readonly access?: DeclareAccess;
  readonly passive: boolean;
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
}

export interface QueueDeclareResult {
  readonly name: string;
  readonly messageCount: number;
  readonly consumerCount: number;
}

/** What a publish did (one object reused by a channel: no allocation per message). */
export interface PublishOutcome {
  /** Queues (or reply consumers) the message reached. */
  routed: number;
  /** Queues that refused it (`x-overflow` reject-publish*): the publisher gets basic.nack. */
  rejected: number;
  /** A queue it reached that is above its flow watermark (the publisher should be paused), if any. */
  congested?: Queue | undefined;
  /**
   * Set when the message was stored for durable queues: resolves once it (and the definitions of the
   * queues it reached) are on disk, rejects when the store could not write it. A publisher confirm or
   * tx.commit-ok waits for it.
   */
  durable?: Promise<void> | undefined;
}

/** What a persistent broker gives its vhosts. */
export interface VhostPersistence {
  readonly messages: MessageStore;
  /** The durable definitions changed: write them soon. */
  definitionsChanged(): void;
  /** True while a definitions change is not on disk yet. */
  readonly definitionsPending: boolean;
  /** Resolves once every definitions change so far is on disk. */
  definitionsFlushed(): Promise<void>;
}

/** Where a message was routed, to be delivered later ({@link VirtualHost.route}). */
export interface RoutedMessage {
  /** The message to store (CC/BCC applied). */
  readonly message: Message;
  readonly queues: readonly Queue[];
  /** The direct reply-to consumer it goes to, if any. */
  readonly reply: ReplyConsumer | undefined;
}

/** The consumer of a channel on the `amq.rabbitmq.reply-to` pseudo-queue. */
export interface ReplyConsumer {
  deliverReply(message: Message): void;
}

/** The pseudo-queue of direct reply-to. */
export const REPLY_TO_QUEUE = 'amq.rabbitmq.reply-to';
const REPLY_TO_PREFIX = 'amq.rabbitmq.reply-to.';

export class VirtualHost {
  readonly name: string;
  readonly #exchanges = new Map<string, Exchange>();
  readonly #queues = new Map<string, Queue>();
  readonly #replyConsumers = new Map<string, ReplyConsumer>();
  readonly #scratch: PublishOutcome = { routed: 0, rejected: 0 };
  readonly #gauge: MemoryGauge;
  readonly #flowHighWaterMessages: number;
  readonly #log: Logger;
  readonly #maxQueues: number;
  #persistence: VhostPersistence | undefined;
  #storeHooks: QueueStoreHooks | undefined;
  /** Restoring definitions: no change is written back meanwhile. */
  #restoring = false;
  /** Messages published into this vhost (RabbitMQ's global `messages_received`), cumulative. */
  publishedCount = 0;

  /**
   * @param gauge Byte count of ready messages shared by the broker's vhosts (memory alarm).
   * @param flowHighWaterMessages Ready messages per queue above which its publishers are paused (0: off).
   * @param log Where queues report failures of their timers and dead-lettering.
   * @param maxQueues Queues allowed (RabbitMQ's vhost limit `max-queues`); 0: no limit.
   */
  constructor(
    name: string,
    gauge: MemoryGauge = new MemoryGauge(),
    flowHighWaterMessages = 0,
    log: Logger = noopLogger,
    maxQueues = 0,
  ) {
    this.name = name;
    this.#maxQueues = maxQueues;
    this.#gauge = gauge;
    this.#flowHighWaterMessages = flowHighWaterMessages;
    this.#log = log;
    const std = (n: string, type: 'direct' | 'fanout' | 'topic' | 'headers'): void => {
      this.#exchanges.set(
        n,
        createExchange(type, {
          name: n,
          durable: true,
          autoDelete: false,
          internal: false,
          arguments: new Map(),
        }),
      );
    };
    std('', 'direct');
    std('amq.direct', 'direct');
    std('amq.fanout', 'fanout');
    std('amq.topic', 'topic');
    std('amq.headers', 'headers');
    std('amq.match', 'headers');
  }

  /** Makes the vhost persistent: durable definitions and persistent messages go to the store. */
  attachPersistence(persistence: VhostPersistence): void {
    this.#persistence = persistence;
    const messages = persistence.messages;
    this.#storeHooks = {
      delivered: (queue, message) => {
        if (message.stored) messages.delivered(message.stored, queue.name);
      },
      released: (queue, message) => {
        if (message.stored) messages.release(message.stored, queue.name);
      },
      pageWindowBytes: messages.pageWindowBytes,
      load: (seqs) => messages.load(seqs),
      releasePaged: (seqs) => messages.releasePaged(seqs),
    };
    for (const q of this.#queues.values()) if (q.durable) q.store = this.#storeHooks;
  }

  /** The durable exchanges, queues and bindings (what survives a restart). */
  durableDefinitions(): VhostDefinitions {
    const defs: VhostDefinitions = { exchanges: [], queues: [], bindings: [] };
    for (const ex of this.#exchanges.values()) {
      if (!ex.durable) continue;
      if (ex.name !== '' && !ex.name.startsWith('amq.')) {
        defs.exchanges.push({
          name: ex.name,
          type: ex.type,
          autoDelete: ex.autoDelete,
          internal: ex.internal,
          arguments: ex.arguments,
        });
      }
      for (const b of ex.bindings()) {
        if (!b.destination.durable) continue;
        defs.bindings.push({
          source: ex.name,
          destination: b.destination.name,
          destinationType: b.destination instanceof Queue ? 'queue' : 'exchange',
          routingKey: b.routingKey,
          arguments: b.arguments,
        });
      }
    }
    for (const q of this.#queues.values()) {
      if (q.durable) defs.queues.push({ name: q.name, autoDelete: q.autoDelete, arguments: q.arguments });
    }
    return defs;
  }

  /**
   * Re-creates stored definitions at start-up (before any client connects). A definition that no longer
   * validates is logged and skipped rather than stopping the broker.
   */
  restoreDefinitions(defs: VhostDefinitions): void {
    const owner = {};
    this.#restoring = true;
    try {
      const attempt = (what: string, fn: () => void) => {
        try {
          fn();
        } catch (err) {
          this.#log.error({ err, what }, 'a stored definition could not be restored; skipped');
        }
      };
      for (const e of defs.exchanges) {
        attempt(`exchange '${e.name}'`, () => this.declareExchange({ ...e, passive: false, durable: true }));
      }
      for (const q of defs.queues) {
        attempt(`queue '${q.name}'`, () =>
          this.declareQueue({ ...q, passive: false, durable: true, exclusive: false }, owner),
        );
      }
      for (const b of defs.bindings) {
        attempt(`binding '${b.source}' -> '${b.destination}'`, () => {
          if (b.destinationType === 'queue')
            this.bindQueue(b.destination, b.source, b.routingKey, b.arguments, owner);
          else this.bindExchange(b.destination, b.source, b.routingKey, b.arguments);
        });
      }
    } finally {
      this.#restoring = false;
    }
  }

  #definitionsChanged(): void {
    if (!this.#restoring) this.#persistence?.definitionsChanged();
  }

  getExchange(name: string): Exchange | undefined {
    return this.#exchanges.get(name);
  }

  getQueueIfExists(name: string): Queue | undefined {
    return this.#queues.get(name);
  }

  /** The queues, in declaration order (management API). */
  queues(): IterableIterator<Queue> {
    return this.#queues.values();
  }

  /** The exchanges, the default one (`''`) and the `amq.*` ones included (management API). */
  exchanges(): IterableIterator<Exchange> {
    return this.#exchanges.values();
  }

  get queueCount(): number {
    return this.#queues.size;
  }

  get exchangeCount(): number {
    return this.#exchanges.size;
  }

  // ---- exchanges ---------------------------------------------------------------------------------

  declareExchange(d: ExchangeDeclare): Exchange {
    if (d.name === '') {
      if (d.passive) return this.#exchanges.get('')!;
      throw channelError(ACCESS_REFUSED, 'operation not permitted on the default exchange');
    }
    const existing = this.#exchanges.get(d.name);
    if (d.passive) {
      if (existing === undefined)
        throw channelError(NOT_FOUND, `no exchange '${d.name}' in vhost '${this.name}'`);
      return existing;
    }
    if (!isExchangeType(d.type)) {
      // RabbitMQ treats an unknown type as a hard error.
      throw connectionError(COMMAND_INVALID, `unknown exchange type '${d.type}'`);
    }
    d.access?.configure(d.name);
    if (existing !== undefined) {
      const what = `exchange '${d.name}' in vhost '${this.name}'`;
      equivalent('type', what, d.type, existing.type);
      equivalent('durable', what, d.durable, existing.durable);
      equivalent('auto_delete', what, d.autoDelete, existing.autoDelete);
      equivalent('internal', what, d.internal, existing.internal);
      // RabbitMQ compares no other exchange argument.
      assertArgumentsEquivalent(what, ['alternate-exchange'], d.arguments, existing.arguments);
      return existing;
    }
    if (d.name.startsWith('amq.')) {
      throw channelError(ACCESS_REFUSED, `exchange name '${d.name}' contains reserved prefix 'amq.*'`);
    }
    d.access?.creating(d.name, d.arguments);
    const ex = createExchange(d.type, {
      name: d.name,
      durable: d.durable,
      autoDelete: d.autoDelete,
      internal: d.internal,
      arguments: d.arguments,
    });
    this.#exchanges.set(d.name, ex);
    if (ex.durable) this.#definitionsChanged();
    return ex;
  }

  deleteExchange(name: string, ifUnused: boolean): void {
    if (name === '') throw channelError(ACCESS_REFUSED, 'operation not permitted on the default exchange');
    if (name.startsWith('amq.')) {
      // RabbitMQ's check_exchange_deletion (before any permission check).
      throw channelError(
        ACCESS_REFUSED,
        `deletion of system exchange '${name}' in vhost '${this.name}' not allowed`,
      );
    }
    const ex = this.#exchanges.get(name);
    // Deleting an exchange that does not exist succeeds (RabbitMQ ≥ 3.2).
    if (ex === undefined) return;
    if (ifUnused && ex.bindingCount > 0) {
      throw channelError(PRECONDITION_FAILED, `exchange '${name}' in vhost '${this.name}' in use`);
    }
    this.#removeExchange(ex);
  }

  /** exchange.bind: messages reaching `source` are routed on to `destination` by source's bindings. */
  bindExchange(destination: string, source: string, routingKey: string, args: FieldTable): void {
    const [dst, src] = this.#exchangePair(destination, source);
    if (src.type === 'headers' && headersMatchMode(args) === undefined) {
      throw channelError(
        PRECONDITION_FAILED,
        `Invalid x-match field value ${describe(args.get('x-match'))}; expected all, any, all-with-x, or any-with-x`,
      );
    }
    if (src.bind({ destination: dst, routingKey, arguments: args }) && src.durable && dst.durable)
      this.#definitionsChanged();
  }

  /** exchange.unbind; a binding that does not exist is not an error (as RabbitMQ). */
  unbindExchange(destination: string, source: string, routingKey: string, args: FieldTable): void {
    const [dst, src] = this.#exchangePair(destination, source);
    if (src.unbind({ destination: dst, routingKey, arguments: args })) {
      if (src.durable && dst.durable) this.#definitionsChanged();
      this.#maybeAutoDeleteExchange(src);
    }
  }

  // ---- queues ------------------------------------------------------------------------------------

  declareQueue(d: QueueDeclare, owner: object): QueueDeclareResult {
    if (d.passive && (d.name === REPLY_TO_QUEUE || d.name.startsWith(REPLY_TO_PREFIX))) {
      // RabbitMQ answers a passive declare of the pseudo-queue (or of a live reply-to name) with 0/1.
      if (d.name === REPLY_TO_QUEUE || this.#replyConsumers.has(d.name.slice(REPLY_TO_PREFIX.length))) {
        return { name: d.name, messageCount: 0, consumerCount: 1 };
      }
      throw channelError(NOT_FOUND, `no queue '${d.name}' in vhost '${this.name}'`);
    }
    if (d.passive) {
      const q = this.getQueue(d.name, owner);
      q.touch();
      return { name: q.name, messageCount: q.messageCount, consumerCount: q.consumerCount };
    }
    const name = d.name === '' ? `amq.gen-${randomBytes(16).toString('base64url')}` : d.name;
    // RabbitMQ makes exclusive queues transient whatever the declaration says (and compares them so).
    const durable = d.durable && !d.exclusive;
    d.access?.configure(name);
    const existing = this.#queues.get(name);
    if (existing !== undefined) {
      // The declaration must name the same owner: this connection when exclusive, none otherwise (405
      // either way, before any other comparison — as RabbitMQ).
      if (existing.owner !== (d.exclusive ? owner : undefined)) throw this.#locked(existing);
      const what = `queue '${name}' in vhost '${this.name}'`;
      equivalent('durable', what, durable, existing.durable);
      equivalent('auto_delete', what, d.autoDelete, existing.autoDelete);
      assertArgumentsEquivalent(
        what,
        QUEUE_EQUIVALENCE_ARGUMENTS.filter((key) => !isImplicitClassic(key, d.arguments, existing.arguments)),
        d.arguments,
        existing.arguments,
      );
      existing.touch();
      return { name, messageCount: existing.messageCount, consumerCount: existing.consumerCount };
    }
    // Like RabbitMQ, the reserved prefix only stops creating a queue (server-named ones may be redeclared).
    if (d.name.startsWith('amq.')) {
      throw channelError(ACCESS_REFUSED, `queue name '${name}' contains reserved prefix 'amq.*'`);
    }
    if (this.#maxQueues > 0 && this.#queues.size >= this.#maxQueues) {
      throw channelError(
        PRECONDITION_FAILED,
        `cannot declare queue '${name}': queue limit in vhost '${this.name}' (${this.#maxQueues}) is reached`,
      );
    }
    d.access?.creating(name, d.arguments);
    validateQueueArguments(name, this.name, d.arguments);
    const q = new Queue({
      name,
      durable,
      owner: d.exclusive ? owner : undefined,
      autoDelete: d.autoDelete,
      arguments: d.arguments,
      gauge: this.#gauge,
      flowHighWaterMessages: this.#flowHighWaterMessages,
      log: this.#log,
    });
    q.onUnused = this.#onQueueUnused;
    q.onExpired = this.#onQueueUnused;
    q.onDeadLetter = this.#onDeadLetter;
    this.#queues.set(name, q);
    if (durable) {
      q.store = this.#storeHooks;
      this.#definitionsChanged();
    }
    return { name, messageCount: 0, consumerCount: 0 };
  }

  /** The queue, checking existence (404) and exclusivity (405). */
  getQueue(name: string, owner: object): Queue {
    const q = this.#queues.get(name);
    if (q === undefined) throw channelError(NOT_FOUND, `no queue '${name}' in vhost '${this.name}'`);
    this.#checkExclusive(q, owner);
    return q;
  }

  bindQueue(
    queueName: string,
    exchangeName: string,
    routingKey: string,
    args: FieldTable,
    owner: object,
  ): void {
    if (exchangeName === '') {
      throw channelError(ACCESS_REFUSED, 'operation not permitted on the default exchange');
    }
    const q = this.getQueue(queueName, owner);
    const ex = this.#exchangeOr404(exchangeName);
    if (ex.type === 'headers' && headersMatchMode(args) === undefined) {
      throw channelError(
        PRECONDITION_FAILED,
        `Invalid x-match field value ${describe(args.get('x-match'))}; expected all, any, all-with-x, or any-with-x`,
      );
    }
    if (ex.bind({ destination: q, routingKey, arguments: args }) && ex.durable && q.durable)
      this.#definitionsChanged();
  }

  unbindQueue(
    queueName: string,
    exchangeName: string,
    routingKey: string,
    args: FieldTable,
    owner: object,
  ): void {
    if (exchangeName === '') {
      throw channelError(ACCESS_REFUSED, 'operation not permitted on the default exchange');
    }
    const q = this.getQueue(queueName, owner);
    const ex = this.#exchangeOr404(exchangeName);
    if (ex.unbind({ destination: q, routingKey, arguments: args })) {
      if (ex.durable && q.durable) this.#definitionsChanged();
      this.#maybeAutoDeleteExchange(ex);
    }
  }

  purgeQueue(name: string, owner: object): number {
    return this.getQueue(name, owner).purge();
  }

  /** Deletes a queue; returns its ready message count. A missing queue counts as deleted (0). */
  deleteQueue(name: string, ifUnused: boolean, ifEmpty: boolean, owner: object): number {
    const q = this.#queues.get(name);
    if (q === undefined) return 0;
    this.#checkExclusive(q, owner);
    if (ifUnused && q.consumerCount > 0) {
      throw channelError(PRECONDITION_FAILED, `queue '${name}' in vhost '${this.name}' in use`);
    }
    if (ifEmpty && q.messageCount > 0) {
      throw channelError(PRECONDITION_FAILED, `queue '${name}' in vhost '${this.name}' is not empty`);
    }
    return this.#removeQueue(q);
  }

  /**
   * The vhost is being deleted: every queue goes (consumers get basic.cancel, stored messages are
   * released) and user-declared exchanges with them. Returns how many queues were removed.
   */
  deleteEverything(): number {
    const queues = [...this.#queues.values()];
    for (const q of queues) this.#removeQueue(q);
    for (const ex of [...this.#exchanges.values()])
      if (ex.name !== '' && !ex.name.startsWith('amq.')) this.#removeExchange(ex);
    return queues.length;
  }

  /** A connection went away: delete the exclusive queues it owned. */
  releaseOwner(owner: object): void {
    for (const q of [...this.#queues.values()]) if (q.owner === owner) this.#removeQueue(q);
  }

  // ---- publishing --------------------------------------------------------------------------------

  /**
   * Routes `message` and enqueues it on every matching queue (the same object on each). Returns the
   * number of queues it reached; `outcome` also counts the queues that refused it.
   *
   * `holds` is what the publisher's confirm waits for (set in confirm mode): a queue that must do
   * something before the message counts as accepted — a durable queue writing it to its log — takes
   * `holds.hold()` and releases it once done, or fails it (basic.nack). In memory, no queue takes one;
   * with persistence, a persistent message routed to durable queues holds until it is on disk.
   */
  publish(
    exchangeName: string,
    routingKey: string,
    message: Message,
    outcome?: PublishOutcome,
    holds?: HoldSource,
  ): number {
    this.publishedCount++;
    const result = outcome ?? this.#scratch;
    result.routed = 0;
    result.rejected = 0;
    result.congested = undefined;
    result.durable = undefined;
    const msg = withSenderSelectedKeys(message);
    if (exchangeName === '' && msg.extraRoutingKeys === undefined) {
      // The default exchange: the routing key names the queue.
      const q = this.#queues.get(routingKey);
      if (q !== undefined) {
        result.routed = 1;
        if (q.store !== undefined && msg.persistent) result.durable = this.#persist(msg, [q]);
        if (!this.#enqueue(q, msg)) result.rejected = 1;
        if (q.congested) result.congested = q;
      } else if (routingKey.startsWith(REPLY_TO_PREFIX)) {
        const consumer = this.#replyConsumers.get(routingKey.slice(REPLY_TO_PREFIX.length));
        if (consumer !== undefined) {
          consumer.deliverReply(msg);
          result.routed = 1;
        }
      }
      if (result.durable !== undefined && holds !== undefined) holdUntil(holds, result.durable);
      return result.routed;
    }
    const destinations = this.#route(this.#publishExchange(exchangeName), msg);
    if (this.#persistence !== undefined && msg.persistent) result.durable = this.#persist(msg, destinations);
    for (const d of destinations) {
      if (d instanceof Queue) {
        result.routed++;
        if (!this.#enqueue(d, msg)) result.rejected++;
        if (d.congested) result.congested = d;
      }
    }
    if (result.durable !== undefined && holds !== undefined) holdUntil(holds, result.durable);
    return result.routed;
  }

  /**
   * Stores a persistent message for the durable queues among `destinations` (before they get it: a
   * queue may hand it to a consumer at once). Returns when it is durable, or undefined when no durable
   * queue is among them.
   */
  #persist(msg: Message, destinations: Iterable<Destination>): Promise<void> | undefined {
    const p = this.#persistence;
    if (p === undefined) return undefined;
    const queues: string[] = [];
    for (const d of destinations) if (d instanceof Queue && d.store !== undefined) queues.push(d.name);
    if (queues.length === 0) return undefined;
    const ref = p.messages.persist({
      publishedAt: Date.now(),
      vhost: this.name,
      exchange: msg.exchange,
      routingKey: msg.routingKey,
      queues,
      rawProperties: msg.rawProperties,
      body: msg.body,
    });
    msg.stored = ref;
    // A queue declared a moment ago must be on disk too, or the message would have nowhere to go back to.
    return p.definitionsPending
      ? Promise.all([ref.durable, p.definitionsFlushed()]).then(() => {})
      : ref.durable;
  }

  /** Enqueues; a queue that refuses the message (overflow) does not hold its stored copy either. */
  #enqueue(q: Queue, msg: Message): boolean {
    if (q.enqueue(msg)) return true;
    if (msg.stored !== undefined && q.store !== undefined) q.store.released(q, msg);
    return false;
  }

  /**
   * Routes `message` as {@link publish} does (same errors) without delivering it: a transaction routes a
   * publish when it arrives and delivers it on commit ({@link deliver}), as RabbitMQ does.
   */
  route(exchangeName: string, routingKey: string, message: Message): RoutedMessage {
    const msg = withSenderSelectedKeys(message);
    if (exchangeName === '' && msg.extraRoutingKeys === undefined) {
      const q = this.#queues.get(routingKey);
      if (q !== undefined) return { message: msg, queues: [q], reply: undefined };
      const reply = routingKey.startsWith(REPLY_TO_PREFIX)
        ? this.#replyConsumers.get(routingKey.slice(REPLY_TO_PREFIX.length))
        : undefined;
      return { message: msg, queues: [], reply };
    }
    const queues: Queue[] = [];
    for (const d of this.#route(this.#publishExchange(exchangeName), msg)) {
      if (d instanceof Queue) queues.push(d);
    }
    return { message: msg, queues, reply: undefined };
  }

  /**
   * Delivers a message {@link route}d earlier (a transaction's publish, on commit) to its queues as they
   * are now, by name, as RabbitMQ does: a queue deleted since is skipped, one re-declared under the same
   * name gets the message. Returns the number of queues (and reply consumer) it reached; RabbitMQ returns a
   * mandatory message when that is none. `holds` is what tx.commit-ok waits for (see {@link publish}).
   */
  deliver(routed: RoutedMessage, outcome?: PublishOutcome, holds?: HoldSource): number {
    this.publishedCount++;
    const result = outcome ?? this.#scratch;
    result.routed = routed.reply === undefined ? 0 : 1;
    result.rejected = 0;
    result.congested = undefined;
    result.durable = undefined;
    const queues: Queue[] = [];
    for (const routedQueue of routed.queues) {
      const q = routedQueue.deleted ? this.#queues.get(routedQueue.name) : routedQueue;
      if (q !== undefined) queues.push(q);
    }
    if (routed.message.persistent) result.durable = this.#persist(routed.message, queues);
    for (const q of queues) {
      result.routed++;
      if (!this.#enqueue(q, routed.message)) result.rejected++;
      if (q.congested) result.congested = q;
    }
    if (result.durable !== undefined && holds !== undefined) holdUntil(holds, result.durable);
    routed.reply?.deliverReply(routed.message);
    return result.routed;
  }

  /** Registers the reply consumer of a channel; returns the token of its `amq.rabbitmq.reply-to.*` name. */
  addReplyConsumer(consumer: ReplyConsumer): string {
    const token = randomBytes(18).toString('base64url');
    this.#replyConsumers.set(token, consumer);
    return token;
  }

  removeReplyConsumer(token: string): void {
    this.#replyConsumers.delete(token);
  }

  /** Checks that publishing to `exchangeName` is allowed before content arrives. */
  checkPublishable(exchangeName: string): void {
    if (exchangeName === '') return;
    const ex = this.#exchanges.get(exchangeName);
    if (ex === undefined) {
      throw channelError(NOT_FOUND, `no exchange '${exchangeName}' in vhost '${this.name}'`, {
        classId: ClassId.Basic,
        methodId: 40,
      });
    }
  }

  // ---- internals ---------------------------------------------------------------------------------

  /** The exchange a publish names (404 when missing, 403 when internal). */
  #publishExchange(exchangeName: string): Exchange {
    const ex = this.#exchanges.get(exchangeName);
    if (ex === undefined)
      throw channelError(NOT_FOUND, `no exchange '${exchangeName}' in vhost '${this.name}'`);
    if (ex.internal) {
      throw channelError(
        ACCESS_REFUSED,
        `cannot publish to internal exchange '${exchangeName}' in vhost '${this.name}'`,
      );
    }
    return ex;
  }

  /**
   * The destinations of `message` entering exchange `ex`: queues, plus the exchanges visited (each once)
   * through exchange-to-exchange bindings and alternate exchanges.
   */
  #route(ex: Exchange, message: Message): Set<Destination> {
    const out = new Set<Destination>();
    const extra = message.extraRoutingKeys;
    if (ex.name === '') {
      // Dead-lettering (or CC) through the default exchange: keys are queue names.
      this.#defaultRoute(message.routingKey, out);
      if (extra !== undefined) for (const k of extra) this.#defaultRoute(k, out);
      return out;
    }
    // Visit `ex`, then every exchange found in `out` (Set iteration sees entries added meanwhile).
    let seen = this.#visit(ex, ex, message, out, undefined);
    for (const d of out) {
      if (d instanceof Queue) continue;
      seen ??= new Set([ex]);
      if (seen.has(d)) continue;
      seen.add(d);
      seen = this.#visit(ex, d, message, out, seen);
    }
    return out;
  }

  /**
   * Routes through one exchange, falling back to its alternate exchange when it routes nowhere. `seen`
   * (the exchanges visited, allocated only when a second exchange is involved) is returned.
   */
  #visit(
    root: Exchange,
    x: Exchange,
    message: Message,
    out: Set<Destination>,
    seen: Set<Exchange> | undefined,
  ): Set<Exchange> | undefined {
    const before = out.size;
    x.route(message, message.routingKey, out);
    const extra = message.extraRoutingKeys;
    if (extra !== undefined) for (const k of extra) x.route(message, k, out);
    if (out.size === before && x.alternateExchange !== undefined) {
      const alt = this.#exchanges.get(x.alternateExchange);
      if (alt !== undefined) {
        seen ??= new Set([root]);
        if (!seen.has(alt)) {
          seen.add(alt);
          seen = this.#visit(root, alt, message, out, seen);
        }
      }
    }
    return seen;
  }

  #defaultRoute(key: string, out: Set<Destination>): void {
    const q = this.#queues.get(key);
    if (q !== undefined) out.add(q);
  }

  readonly #onQueueUnused = (queue: Queue): void => {
    this.#removeQueue(queue);
  };

  /** A queue's message died: republish it to the queue's dead-letter exchange (dropped when missing). */
  readonly #onDeadLetter = (queue: Queue, message: Message, reason: DeadLetterReason): void => {
    const s = queue.settings;
    const dlx = this.#exchanges.get(s.deadLetterExchange ?? '');
    if (dlx === undefined) return;
    const dead = deadLetteredMessage(
      message,
      reason,
      queue.name,
      { exchange: dlx.name, routingKey: s.deadLetterRoutingKey },
      Date.now(),
    );
    const targets: Queue[] = [];
    for (const d of this.#route(dlx, dead)) {
      if (d instanceof Queue && !isDeadLetterCycle(dead, reason, d.name)) targets.push(d);
    }
    // Stored before the dead message leaves its queue (same group commit): a crash repeats, never loses.
    if (dead.persistent) this.#persist(dead, targets)?.catch(() => {});
    for (const q of targets) this.#enqueue(q, dead);
  };

  /** [destination, source] of an exchange-to-exchange binding (403 on the default exchange, 404). */
  #exchangePair(destination: string, source: string): [Exchange, Exchange] {
    if (destination === '' || source === '') {
      throw channelError(ACCESS_REFUSED, 'operation not permitted on the default exchange');
    }
    const src = this.#exchangeOr404(source);
    const dst = this.#exchangeOr404(destination);
    return [dst, src];
  }

  #removeExchange(ex: Exchange): void {
    if (this.#exchanges.get(ex.name) !== ex) return;
    this.#exchanges.delete(ex.name);
    if (ex.durable) this.#definitionsChanged();
    for (const other of [...this.#exchanges.values()]) {
      if (other.unbindDestination(ex) > 0) this.#maybeAutoDeleteExchange(other);
    }
  }

  #exchangeOr404(name: string): Exchange {
    const ex = this.#exchanges.get(name);
    if (ex === undefined) throw channelError(NOT_FOUND, `no exchange '${name}' in vhost '${this.name}'`);
    return ex;
  }

  #checkExclusive(q: Queue, owner: object): void {
    if (q.owner !== undefined && q.owner !== owner) throw this.#locked(q);
  }

  #locked(q: Queue) {
    return channelError(
      RESOURCE_LOCKED,
      `cannot obtain exclusive access to locked queue '${q.name}' in vhost '${this.name}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`,
    );
  }

  #removeQueue(q: Queue): number {
    if (this.#queues.get(q.name) !== q) return 0;
    this.#queues.delete(q.name);
    if (q.durable) this.#definitionsChanged();
    for (const ex of [...this.#exchanges.values()]) {
      if (ex.unbindDestination(q) > 0) this.#maybeAutoDeleteExchange(ex);
    }
    return q.delete();
  }

  #maybeAutoDeleteExchange(ex: Exchange): void {
    if (ex.autoDelete && ex.bindingCount === 0) this.#removeExchange(ex);
  }
}

/** A confirm (or commit-ok) waits until `durable` settles: released when it resolves, failed (nack) when not. */
function holdUntil(source: HoldSource, durable: Promise<void>): void {
  const hold = source.hold();
  durable.then(
    () => hold.release(),
    () => hold.fail(),
  );
}

function equivalent(arg: string, what: string, received: unknown, current: unknown): void {
  if (received !== current) {
    throw channelError(
      PRECONDITION_FAILED,
      `inequivalent arg '${arg}' for ${what}: received '${String(received)}' but current is '${String(current)}'`,
    );
  }
}

function describe(v: FieldValue | undefined): string {
  if (v === undefined) return 'none';
  const s = fieldString(v);
  if (s !== undefined) return `the value '${s}' of type 'longstr'`;
  if (v.type === 'void' || v.type === 'array' || v.type === 'table') return `a value of type '${v.type}'`;
  return `the value '${String(v.value)}' of type '${v.type}'`;
}

/**
 * RabbitMQ lets a missing `x-queue-type` match 'classic' (the type of every queue here) in either
 * direction; any other difference in it is compared as usual.
 */
function isImplicitClassic(key: string, received: FieldTable, current: FieldTable): boolean {
  if (key !== 'x-queue-type') return false;
  const r = received.get(key);
  const c = current.get(key);
  return (
    (r === undefined && fieldString(c) === 'classic') || (c === undefined && fieldString(r) === 'classic')
  );
}
