/**
 * The `Exchange` interface every exchange type implements, and the binding bookkeeping they share.
 * A binding is identified by (queue, routing key, arguments) — arguments compared with sorted keys, as
 * RabbitMQ does — so binding twice is a no-op and a queue bound by two bindings still gets a message once
 * per routing decision (`route` fills a Set).
 */
import { ByteWriter } from '../codec/byte-writer.js';
import type { FieldTable } from '../codec/field-table.js';
import { writeFieldTable } from '../codec/field-table.js';
import type { Message } from '../queue/message.js';
import type { Queue } from '../queue/queue.js';

export type ExchangeType = 'direct' | 'fanout' | 'topic' | 'headers';

export interface Binding {
  readonly queue: Queue;
  readonly routingKey: string;
  readonly arguments: FieldTable;
}

export interface ExchangeOptions {
  readonly name: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: FieldTable;
}

export interface Exchange extends ExchangeOptions {
  readonly type: ExchangeType;
  readonly bindingCount: number;
  /** Adds a binding; false when an identical one existed. */
  bind(binding: Binding): boolean;
  /** Removes a binding; false when there was none. */
  unbind(binding: Binding): boolean;
  /** Removes every binding to `queue` (the queue was deleted); returns how many. */
  unbindQueue(queue: Queue): number;
  /** Adds the queues `message` published with `routingKey` goes to. */
  route(message: Message, routingKey: string, out: Set<Queue>): void;
}

/** Sorted-key fingerprint of a binding's arguments. */
function argumentsKey(args: FieldTable): string {
  if (args.size === 0) return '';
  const sorted = new Map([...args.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const w = new ByteWriter(64);
  writeFieldTable(w, sorted);
  return w.toBuffer().toString('latin1');
}

/** Binding bookkeeping shared by the exchange types; subclasses index bindings for routing. */
export abstract class BaseExchange implements Exchange {
  abstract readonly type: ExchangeType;
  readonly name: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: FieldTable;
  /** Bindings by queue, then by (routing key, arguments) identity. */
  #byQueue = new Map<Queue, Map<string, Binding>>();
  #count = 0;

  constructor(options: ExchangeOptions) {
    this.name = options.name;
    this.durable = options.durable;
    this.autoDelete = options.autoDelete;
    this.internal = options.internal;
    this.arguments = options.arguments;
  }

  get bindingCount(): number {
    return this.#count;
  }

  bind(binding: Binding): boolean {
    let forQueue = this.#byQueue.get(binding.queue);
    if (forQueue === undefined) {
      forQueue = new Map();
      this.#byQueue.set(binding.queue, forQueue);
    }
    const key = `${binding.routingKey}\u0000${argumentsKey(binding.arguments)}`;
    if (forQueue.has(key)) return false;
    forQueue.set(key, binding);
    this.#count++;
    this.addToIndex(binding);
    return true;
  }

  unbind(binding: Binding): boolean {
    const forQueue = this.#byQueue.get(binding.queue);
    const key = `${binding.routingKey}\u0000${argumentsKey(binding.arguments)}`;
    const existing = forQueue?.get(key);
    if (forQueue === undefined || existing === undefined) return false;
    forQueue.delete(key);
    if (forQueue.size === 0) this.#byQueue.delete(binding.queue);
    this.#count--;
    this.removeFromIndex(existing);
    return true;
  }

  unbindQueue(queue: Queue): number {
    const forQueue = this.#byQueue.get(queue);
    if (forQueue === undefined) return 0;
    this.#byQueue.delete(queue);
    for (const b of forQueue.values()) this.removeFromIndex(b);
    this.#count -= forQueue.size;
    return forQueue.size;
  }

  abstract route(message: Message, routingKey: string, out: Set<Queue>): void;
  protected abstract addToIndex(binding: Binding): void;
  protected abstract removeFromIndex(binding: Binding): void;
}

/** Reference-counted set of queues (a queue may be reached by several bindings of one key). */
export class QueueCounts {
  readonly #counts = new Map<Queue, number>();

  add(queue: Queue): void {
    this.#counts.set(queue, (this.#counts.get(queue) ?? 0) + 1);
  }

  /** Returns true when the set became empty. */
  remove(queue: Queue): boolean {
    const n = this.#counts.get(queue);
    if (n === undefined) return this.#counts.size === 0;
    if (n <= 1) this.#counts.delete(queue);
    else this.#counts.set(queue, n - 1);
    return this.#counts.size === 0;
  }

  addTo(out: Set<Queue>): void {
    for (const q of this.#counts.keys()) out.add(q);
  }
}
