/**
 * A virtual host: its exchanges, queues and bindings, and the AMQP semantics of declaring, binding,
 * deleting and routing. Failures throw channel-level {@link AmqpError}s with RabbitMQ's reply codes and
 * (close to) RabbitMQ's reply texts; the protocol layer turns them into channel.close.
 */
import { randomBytes } from 'node:crypto';
import { type FieldTable, type FieldValue, fieldString, fieldTablesEqual } from '../codec/field-table.js';
import { channelError, connectionError } from '../errors.js';
import { createExchange, isExchangeType } from '../exchange/create-exchange.js';
import type { Exchange } from '../exchange/exchange.js';
import { headersMatchMode } from '../exchange/headers-exchange.js';
import type { Message } from '../queue/message.js';
import { Queue } from '../queue/queue.js';
import { validateQueueArguments } from './queue-arguments.js';

const ACCESS_REFUSED = 403;
const NOT_FOUND = 404;
const RESOURCE_LOCKED = 405;
const PRECONDITION_FAILED = 406;
const COMMAND_INVALID = 503;

export interface ExchangeDeclare {
  readonly name: string;
  readonly type: string;
  readonly passive: boolean;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: FieldTable;
}

export interface QueueDeclare {
  readonly name: string;
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

export class VirtualHost {
  readonly name: string;
  readonly #exchanges = new Map<string, Exchange>();
  readonly #queues = new Map<string, Queue>();

  constructor(name: string) {
    this.name = name;
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

  getExchange(name: string): Exchange | undefined {
    return this.#exchanges.get(name);
  }

  getQueueIfExists(name: string): Queue | undefined {
    return this.#queues.get(name);
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
    if (existing !== undefined) {
      const what = `exchange '${d.name}' in vhost '${this.name}'`;
      equivalent('type', what, d.type, existing.type);
      equivalent('durable', what, d.durable, existing.durable);
      equivalent('auto_delete', what, d.autoDelete, existing.autoDelete);
      equivalent('internal', what, d.internal, existing.internal);
      if (
        !fieldTablesEqual(
          withoutIgnoredExchangeArgs(d.arguments),
          withoutIgnoredExchangeArgs(existing.arguments),
        )
      ) {
        throw channelError(PRECONDITION_FAILED, `inequivalent arg 'arguments' for ${what}`);
      }
      return existing;
    }
    if (d.name.startsWith('amq.')) {
      throw channelError(ACCESS_REFUSED, `exchange name '${d.name}' contains reserved prefix 'amq.*'`);
    }
    const ex = createExchange(d.type, {
      name: d.name,
      durable: d.durable,
      autoDelete: d.autoDelete,
      internal: d.internal,
      arguments: d.arguments,
    });
    this.#exchanges.set(d.name, ex);
    return ex;
  }

  deleteExchange(name: string, ifUnused: boolean): void {
    if (name === '' || name.startsWith('amq.')) {
      throw channelError(
        ACCESS_REFUSED,
        `operation not permitted on the ${name === '' ? 'default' : `'${name}'`} exchange`,
      );
    }
    const ex = this.#exchanges.get(name);
    // Deleting an exchange that does not exist succeeds (RabbitMQ ≥ 3.2).
    if (ex === undefined) return;
    if (ifUnused && ex.bindingCount > 0) {
      throw channelError(PRECONDITION_FAILED, `exchange '${name}' in vhost '${this.name}' in use`);
    }
    this.#exchanges.delete(name);
  }

  // ---- queues ------------------------------------------------------------------------------------

  declareQueue(d: QueueDeclare, owner: object): QueueDeclareResult {
    if (d.passive) {
      const q = this.getQueue(d.name, owner);
      return { name: q.name, messageCount: q.messageCount, consumerCount: q.consumerCount };
    }
    const name = d.name === '' ? `amq.gen-${randomBytes(16).toString('base64url')}` : d.name;
    const existing = this.#queues.get(name);
    if (existing !== undefined) {
      this.#checkExclusive(existing, owner);
      const what = `queue '${name}' in vhost '${this.name}'`;
      equivalent('durable', what, d.durable, existing.durable);
      equivalent('auto_delete', what, d.autoDelete, existing.autoDelete);
      equivalent('exclusive', what, d.exclusive, existing.owner !== undefined);
      for (const key of new Set([...d.arguments.keys(), ...existing.arguments.keys()])) {
        const a = d.arguments.get(key);
        const b = existing.arguments.get(key);
        if (
          a === undefined ||
          b === undefined ||
          !fieldTablesEqual(new Map([[key, a]]), new Map([[key, b]]))
        ) {
          throw channelError(
            PRECONDITION_FAILED,
            `inequivalent arg '${key}' for ${what}: received ${describe(a)} but current is ${describe(b)}`,
          );
        }
      }
      return { name, messageCount: existing.messageCount, consumerCount: existing.consumerCount };
    }
    // Like RabbitMQ, the reserved prefix only stops creating a queue (server-named ones may be redeclared).
    if (d.name.startsWith('amq.')) {
      throw channelError(ACCESS_REFUSED, `queue name '${name}' contains reserved prefix 'amq.*'`);
    }
    validateQueueArguments(name, this.name, d.arguments);
    const q = new Queue({
      name,
      durable: d.durable,
      owner: d.exclusive ? owner : undefined,
      autoDelete: d.autoDelete,
      arguments: d.arguments,
    });
    q.onUnused = (queue) => this.#removeQueue(queue);
    this.#queues.set(name, q);
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
    ex.bind({ queue: q, routingKey, arguments: args });
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
    if (ex.unbind({ queue: q, routingKey, arguments: args })) this.#maybeAutoDeleteExchange(ex);
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

  /** A connection went away: delete the exclusive queues it owned. */
  releaseOwner(owner: object): void {
    for (const q of [...this.#queues.values()]) if (q.owner === owner) this.#removeQueue(q);
  }

  // ---- publishing --------------------------------------------------------------------------------

  /**
   * Routes `message` and enqueues it on every matching queue (the same object on each). Returns the
   * number of queues it reached.
   */
  publish(exchangeName: string, routingKey: string, message: Message): number {
    if (exchangeName === '') {
      const q = this.#queues.get(routingKey);
      if (q === undefined) return 0;
      q.enqueue(message);
      return 1;
    }
    const ex = this.#exchanges.get(exchangeName);
    if (ex === undefined)
      throw channelError(NOT_FOUND, `no exchange '${exchangeName}' in vhost '${this.name}'`);
    if (ex.internal) {
      throw channelError(
        ACCESS_REFUSED,
        `cannot publish to internal exchange '${exchangeName}' in vhost '${this.name}'`,
      );
    }
    const out = new Set<Queue>();
    ex.route(message, routingKey, out);
    for (const q of out) q.enqueue(message);
    return out.size;
  }

  /** Checks that publishing to `exchangeName` is allowed before content arrives. */
  checkPublishable(exchangeName: string): void {
    if (exchangeName === '') return;
    const ex = this.#exchanges.get(exchangeName);
    if (ex === undefined) {
      throw channelError(NOT_FOUND, `no exchange '${exchangeName}' in vhost '${this.name}'`, {
        classId: 60,
        methodId: 40,
      });
    }
  }

  // ---- internals ---------------------------------------------------------------------------------

  #exchangeOr404(name: string): Exchange {
    const ex = this.#exchanges.get(name);
    if (ex === undefined) throw channelError(NOT_FOUND, `no exchange '${name}' in vhost '${this.name}'`);
    return ex;
  }

  #checkExclusive(q: Queue, owner: object): void {
    if (q.owner !== undefined && q.owner !== owner) {
      throw channelError(
        RESOURCE_LOCKED,
        `cannot obtain exclusive access to locked queue '${q.name}' in vhost '${this.name}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`,
      );
    }
  }

  #removeQueue(q: Queue): number {
    if (this.#queues.get(q.name) !== q) return 0;
    this.#queues.delete(q.name);
    for (const ex of [...this.#exchanges.values()]) {
      if (ex.unbindQueue(q) > 0) this.#maybeAutoDeleteExchange(ex);
    }
    return q.delete();
  }

  #maybeAutoDeleteExchange(ex: Exchange): void {
    if (ex.autoDelete && ex.bindingCount === 0 && this.#exchanges.get(ex.name) === ex)
      this.#exchanges.delete(ex.name);
  }
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

/** Exchange arguments RabbitMQ leaves out of the equivalence check. */
function withoutIgnoredExchangeArgs(args: FieldTable): FieldTable {
  if (!args.has('alternate-exchange')) return args;
  const copy = new Map(args);
  copy.delete('alternate-exchange');
  return copy;
}
