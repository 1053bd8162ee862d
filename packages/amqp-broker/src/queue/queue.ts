/**
 * An in-memory queue: ready messages in publish order, consumers served round-robin (highest
 * `x-priority` first), and the count of messages delivered but not yet settled.
 *
 * Requeued messages go back to their original position (ordered by the sequence number they got when
 * enqueued), marked redelivered — as RabbitMQ does.
 */
import type { FieldTable } from '../codec/field-table.js';
import type { Message } from './message.js';

/** One message in one queue. */
export interface QueueEntry {
  readonly message: Message;
  /** Position in the queue: increases with every enqueue, kept on requeue. */
  readonly seq: number;
  redelivered: boolean;
}

/** What a queue needs from a consumer (implemented by the protocol layer's channel). */
export interface QueueConsumer {
  readonly tag: string;
  readonly exclusive: boolean;
  readonly priority: number;
  /** True when the consumer can take one more message now (prefetch, flow, socket backpressure). */
  canDeliver(): boolean;
  /** Hands the entry over; the queue has already removed it from its ready list. */
  deliver(queue: Queue, entry: QueueEntry): void;
  /** The queue was deleted: the consumer is gone (the channel sends basic.cancel when the client asked). */
  cancelledByBroker(queue: Queue): void;
}

export interface QueueOptions {
  readonly name: string;
  readonly durable: boolean;
  /** The connection owning an exclusive queue; undefined for shared queues. */
  readonly owner: object | undefined;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
}

export class Queue {
  readonly name: string;
  readonly durable: boolean;
  readonly owner: object | undefined;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  /** Called when the last consumer of an auto-delete queue goes away. */
  onUnused: ((queue: Queue) => void) | undefined;

  #ready: QueueEntry[] = [];
  #head = 0;
  #nextSeq = 1;
  #consumers: QueueConsumer[] = [];
  #rr = 0;
  #hadConsumer = false;
  #deleted = false;
  #dispatching = false;
  /** Delivered to consumers or basic.get, not yet acked/rejected. */
  unacked = 0;

  constructor(options: QueueOptions) {
    this.name = options.name;
    this.durable = options.durable;
    this.owner = options.owner;
    this.autoDelete = options.autoDelete;
    this.arguments = options.arguments;
  }

  get deleted(): boolean {
    return this.#deleted;
  }

  /** Ready messages (not counting unacked ones), as queue.declare-ok reports. */
  get messageCount(): number {
    return this.#ready.length - this.#head;
  }

  get consumerCount(): number {
    return this.#consumers.length;
  }

  get consumers(): readonly QueueConsumer[] {
    return this.#consumers;
  }

  hasExclusiveConsumer(): boolean {
    return this.#consumers.some((c) => c.exclusive);
  }

  enqueue(message: Message): void {
    this.#ready.push({ message, seq: this.#nextSeq++, redelivered: false });
    this.dispatch();
  }

  /** Takes the head message for basic.get. */
  shift(): QueueEntry | undefined {
    if (this.#head >= this.#ready.length) return undefined;
    const entry = this.#ready[this.#head]!;
    this.#ready[this.#head] = undefined as unknown as QueueEntry;
    this.#head++;
    this.#compact();
    return entry;
  }

  /** Puts unacked entries back at their original positions, marked redelivered. */
  requeue(entries: readonly QueueEntry[]): void {
    if (this.#deleted) return;
    for (const entry of entries) {
      entry.redelivered = true;
      this.unacked--;
      this.#insertBySeq(entry);
    }
    this.dispatch();
  }

  /** An unacked entry was acked or dropped. */
  settle(count = 1): void {
    this.unacked -= count;
  }

  purge(): number {
    const count = this.messageCount;
    this.#ready = [];
    this.#head = 0;
    return count;
  }

  addConsumer(consumer: QueueConsumer): void {
    this.#hadConsumer = true;
    // Higher priority first; equal priorities keep arrival order.
    let i = this.#consumers.length;
    while (i > 0 && this.#consumers[i - 1]!.priority < consumer.priority) i--;
    this.#consumers.splice(i, 0, consumer);
    this.dispatch();
  }

  removeConsumer(consumer: QueueConsumer): void {
    const i = this.#consumers.indexOf(consumer);
    if (i < 0) return;
    this.#consumers.splice(i, 1);
    if (this.#rr > i) this.#rr--;
    if (this.#consumers.length === 0 && this.autoDelete && this.#hadConsumer && !this.#deleted) {
      this.onUnused?.(this);
    }
  }

  /** Marks the queue deleted, tells its consumers, drops its messages; returns the ready count. */
  delete(): number {
    if (this.#deleted) return 0;
    this.#deleted = true;
    const count = this.purge();
    const consumers = this.#consumers;
    this.#consumers = [];
    for (const c of consumers) c.cancelledByBroker(this);
    return count;
  }

  /** Delivers ready messages to consumers that can take them. */
  dispatch(): void {
    if (this.#dispatching || this.#deleted) return;
    this.#dispatching = true;
    try {
      while (this.#head < this.#ready.length && this.#consumers.length > 0) {
        const consumer = this.#pickConsumer();
        if (consumer === undefined) break;
        const entry = this.shift()!;
        this.unacked++;
        consumer.deliver(this, entry);
      }
    } finally {
      this.#dispatching = false;
    }
  }

  /** Round-robin among the highest-priority consumers that can take a message. */
  #pickConsumer(): QueueConsumer | undefined {
    const consumers = this.#consumers;
    const n = consumers.length;
    // Consumers are sorted by priority: find the first priority level with an available consumer.
    let levelStart = 0;
    while (levelStart < n) {
      const priority = consumers[levelStart]!.priority;
      let levelEnd = levelStart;
      while (levelEnd < n && consumers[levelEnd]!.priority === priority) levelEnd++;
      const size = levelEnd - levelStart;
      const start = this.#rr >= levelStart && this.#rr < levelEnd ? this.#rr - levelStart : 0;
      for (let k = 0; k < size; k++) {
        const idx = levelStart + ((start + k) % size);
        const c = consumers[idx]!;
        if (c.canDeliver()) {
          this.#rr = levelStart + ((idx - levelStart + 1) % size);
          return c;
        }
      }
      levelStart = levelEnd;
    }
    return undefined;
  }

  #insertBySeq(entry: QueueEntry): void {
    const ready = this.#ready;
    let lo = this.#head;
    let hi = ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ready[mid]!.seq < entry.seq) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.#head && this.#head > 0) {
      this.#head--;
      ready[this.#head] = entry;
    } else {
      ready.splice(lo, 0, entry);
    }
  }

  #compact(): void {
    if (this.#head === this.#ready.length) {
      this.#ready = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#ready.length) {
      this.#ready = this.#ready.slice(this.#head);
      this.#head = 0;
    }
  }
}
