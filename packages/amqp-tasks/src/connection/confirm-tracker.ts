import { type ConfirmChannel, IllegalOperationError, type Message, type Options } from 'amqplib';
import { TasksError } from '../errors.js';
import { corkUntilNextTurn } from './cork.js';

interface Entry {
  readonly tag: number;
  readonly messageId: string;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * Tracks publisher confirms on one confirm channel so many publishes can be in flight at once (pipelined,
 * not one round trip each). It numbers publishes itself, as the broker does (1, 2, 3… per channel), and
 * settles them from `basic.ack` / `basic.nack` (single or `multiple`). A mandatory message the broker
 * returns arrives before its ack; it is matched by `messageId` and its publish rejects with
 * `DSP_TASKS_UNROUTABLE`. When the channel closes every unconfirmed publish rejects with
 * `DSP_TASKS_CHANNEL_LOST` (it may or may not have reached a queue).
 */
export class ConfirmTracker {
  readonly channel: ConfirmChannel;
  #nextTag = 1;
  /** Ids for messages published without one (returns are matched by id). */
  #anonymous = 0;
  #closed = false;
  readonly #pending = new Map<number, Entry>();
  /** Returns received per messageId, not yet matched with their ack. */
  readonly #returned = new Map<string, number>();
  readonly #idle = new Set<() => void>();

  constructor(channel: ConfirmChannel) {
    this.channel = channel;
    channel.on('ack', ({ deliveryTag, multiple }: { deliveryTag: number; multiple: boolean }) =>
      this.#settle(deliveryTag, multiple, undefined),
    );
    channel.on('nack', ({ deliveryTag, multiple }: { deliveryTag: number; multiple: boolean }) =>
      this.#settle(deliveryTag, multiple, 'nack'),
    );
    channel.on('return', (message: Message) => {
      const id = message.properties.messageId as string | undefined;
      if (id !== undefined) this.#returned.set(id, (this.#returned.get(id) ?? 0) + 1);
    });
    channel.on('close', () => {
      this.#closed = true;
      const lost = new TasksError('DSP_TASKS_CHANNEL_LOST', 'the channel closed before the broker confirmed');
      for (const entry of [...this.#pending.values()]) this.#finish(entry, lost);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Publishes awaiting their confirm. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * Publishes and resolves when the broker confirms. `options.messageId` is set when missing (returns
   * are matched by it). Returns the promise and whether the channel's write buffer has room (`false`
   * asks the caller to wait for `drain`).
   */
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
  ): { confirmed: Promise<void>; writable: boolean } {
    if (this.#closed) {
      return {
        confirmed: Promise.reject(new TasksError('DSP_TASKS_CHANNEL_LOST', 'the channel is closed')),
        writable: false,
      };
    }
    let messageId = options.messageId as string | undefined;
    if (messageId === undefined) {
      messageId = `dsp-${++this.#anonymous}`;
      options = { ...options, messageId };
    }
    let entry!: Entry;
    const tag = this.#nextTag;
    const id = messageId;
    const confirmed = new Promise<void>((resolve, reject) => {
      entry = { tag, messageId: id, resolve, reject };
    });
    let writable: boolean;
    try {
      corkUntilNextTurn(this.channel);
      writable = this.channel.publish(exchange, routingKey, content, options);
    } catch (err) {
      // amqplib throws synchronously when the channel is closing or a header table is too large.
      return {
        confirmed: Promise.reject(
          err instanceof IllegalOperationError
            ? new TasksError('DSP_TASKS_CHANNEL_LOST', 'the channel is closed', { cause: err })
            : new TasksError('DSP_TASKS_INVALID_ARGUMENT', (err as Error).message, { cause: err }),
        ),
        writable: false,
      };
    }
    this.#nextTag++;
    this.#pending.set(entry.tag, entry);
    return { confirmed, writable };
  }

  /** Resolves when nothing awaits a confirm (or the channel closed). */
  whenIdle(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.add(resolve));
  }

  #settle(tag: number, multiple: boolean, outcome: 'nack' | undefined): void {
    const entries: Entry[] = [];
    if (multiple) {
      // The map iterates in insertion order, which is tag order.
      for (const entry of this.#pending.values()) {
        if (entry.tag > tag) break;
        entries.push(entry);
      }
    } else {
      const entry = this.#pending.get(tag);
      if (entry) entries.push(entry);
    }
    for (const entry of entries) {
      if (outcome === 'nack') {
        this.#finish(
          entry,
          new TasksError('DSP_TASKS_NACKED', 'the broker refused the message (basic.nack)'),
        );
      } else if (this.#takeReturn(entry.messageId)) {
        this.#finish(entry, new TasksError('DSP_TASKS_UNROUTABLE', 'no queue is bound for this routing key'));
      } else {
        this.#finish(entry, undefined);
      }
    }
  }

  #takeReturn(messageId: string): boolean {
    if (this.#returned.size === 0) return false;
    const count = this.#returned.get(messageId);
    if (count === undefined) return false;
    if (count <= 1) this.#returned.delete(messageId);
    else this.#returned.set(messageId, count - 1);
    return true;
  }

  #finish(entry: Entry, error: Error | undefined): void {
    this.#pending.delete(entry.tag);
    if (error) entry.reject(error);
    else entry.resolve();
    if (this.#pending.size === 0) {
      for (const resolve of [...this.#idle]) resolve();
      this.#idle.clear();
    }
  }
}
