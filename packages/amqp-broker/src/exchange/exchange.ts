/**
 * The `Exchange` interface every exchange type implements, and the binding bookkeeping they share.
 * A binding goes from this exchange (the source) to a destination — a queue, or another exchange for
 * exchange-to-exchange bindings — and is identified by (destination, routing key, arguments), arguments
 * compared with sorted keys as RabbitMQ does. Binding twice is a no-op and a destination bound by two
 * bindings still gets a message once per routing decision (`route` fills a Set).
 */
import { ByteWriter } from '../codec/byte-writer.js';
import type { FieldTable } from '../codec/field-table.js';
import { fieldString, writeFieldTable } from '../codec/field-table.js';
import type { Message } from '../queue/message.js';
import type { Queue } from '../queue/queue.js';

export type ExchangeType = 'direct' | 'fanout' | 'topic' | 'headers';

/** Where a binding leads: a queue, or an exchange (exchange-to-exchange binding). */
export type Destination = Queue | Exchange;

export interface Binding {
  readonly destination: Destination;
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
  /** Bindings with this exchange as their source. */
  readonly bindingCount: number;
  /** The `alternate-exchange` argument: where unroutable messages go (undefined: none). */
  readonly alternateExchange: string | undefined;
  /** Adds a binding; false when an identical one existed. */
  bind(binding: Binding): boolean;
  /** Removes a binding; false when there was none. */
  unbind(binding: Binding): boolean;
  /** Removes every binding to `destination` (it was deleted); returns how many. */
  unbindDestination(destination: Destination): number;
  /** Every binding with this exchange as its source. */
  bindings(): IterableIterator<Binding>;
  /** Adds the destinations `message` published with `routingKey` goes to. */
  route(message: Message, routingKey: string, out: Set<Destination>): void;
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
  readonly alternateExchange: string | undefined;
  /** Bindings by destination, then by (routing key, arguments) identity. */
  #byDestination = new Map<Destination, Map<string, Binding>>();
  #count = 0;

  constructor(options: ExchangeOptions) {
    this.name = options.name;
    this.durable = options.durable;
    this.autoDelete = options.autoDelete;
    this.internal = options.internal;
    this.arguments = options.arguments;
    this.alternateExchange = fieldString(options.arguments.get('alternate-exchange'));
  }

  get bindingCount(): number {
    return this.#count;
  }

  bind(binding: Binding): boolean {
    let forQueue = this.#byDestination.get(binding.destination);
    if (forQueue === undefined) {
      forQueue = new Map();
      this.#byDestination.set(binding.destination, forQueue);
    }
    const key = `${binding.routingKey}\u0000${argumentsKey(binding.arguments)}`;
    if (forQueue.has(key)) return false;
    forQueue.set(key, binding);
    this.#count++;
    this.addToIndex(binding);
    return true;
  }

  unbind(binding: Binding): boolean {
    const forQueue = this.#byDestination.get(binding.destination);
    const key = `${binding.routingKey}\u0000${argumentsKey(binding.arguments)}`;
    const existing = forQueue?.get(key);
    if (forQueue === undefined || existing === undefined) return false;
    forQueue.delete(key);
    if (forQueue.size === 0) this.#byDestination.delete(binding.destination);
    this.#count--;
    this.removeFromIndex(existing);
    return true;
  }

  unbindDestination(destination: Destination): number {
    const forQueue = this.#byDestination.get(destination);
    if (forQueue === undefined) return 0;
    this.#byDestination.delete(destination);
    for (const b of forQueue.values()) this.removeFromIndex(b);
    this.#count -= forQueue.size;
    return forQueue.size;
  }

  *bindings(): IterableIterator<Binding> {
    for (const forDestination of this.#byDestination.values()) yield* forDestination.values();
  }

  abstract route(message: Message, routingKey: string, out: Set<Destination>): void;
  protected abstract addToIndex(binding: Binding): void;
  protected abstract removeFromIndex(binding: Binding): void;
}

/** Reference-counted set of destinations (one may be reached by several bindings of one key). */
export class DestinationCounts {
  readonly #counts = new Map<Destination, number>();

  add(queue: Destination): void {
    this.#counts.set(queue, (this.#counts.get(queue) ?? 0) + 1);
  }

  /** Returns true when the set became empty. */
  remove(queue: Destination): boolean {
    const n = this.#counts.get(queue);
    if (n === undefined) return this.#counts.size === 0;
    if (n <= 1) this.#counts.delete(queue);
    else this.#counts.set(queue, n - 1);
    return this.#counts.size === 0;
  }

  addTo(out: Set<Destination>): void {
    for (const q of this.#counts.keys()) out.add(q);
  }
}
