import { type ConfirmChannel, IllegalOperationError, type Message, type Options } from 'amqplib';
import { TasksError } from '../errors.js';
import { TaskHeaders } from '../task-headers.js';

interface Entry {
  readonly tag: number;
  readonly messageId: string;
  /** Published with our tag header (its message id was already in flight untagged). */
  readonly tagged: boolean;
  /** The broker returned it (unroutable); settled as such by its ack. */
  returned: boolean;
  readonly done: ConfirmTarget;
}

/** Called once per publish: without an argument when the broker confirmed it, else with why not. */
export type ConfirmCallback = (err?: Error) => void;

/** Who learns a publish's fate: a callback, or an object's `confirmed` (the publisher's hot path: no closure). */
export type ConfirmTarget = ConfirmCallback | { confirmed(err?: Error): void };

function notify(done: ConfirmTarget, err: Error | undefined): void {
  if (typeof done === 'function') done(err);
  else done.confirmed(err);
}

/**
 * Tracks publisher confirms on one confirm channel so many publishes can be in flight at once (pipelined,
 * not one round trip each). It numbers publishes itself, as the broker does (1, 2, 3… per channel), and
 * settles them from `basic.ack` / `basic.nack` (single or `multiple`). When the channel closes every
 * unconfirmed publish rejects with `DSP_TASKS_CHANNEL_LOST` (it may or may not have reached a queue).
 *
 * A mandatory message the broker returns arrives before its ack and rejects with `DSP_TASKS_UNROUTABLE`.
 * A basic.return carries no delivery tag, and its order against the acks is no help either (a broker may
 * send several returns, then one `multiple` ack for all): it is matched by the message's properties. The
 * message id alone is ambiguous when two publishes in flight share it (a user uuid reused, or equal to a
 * generated `dsp-N`), so such a publish carries its tag in the `x-dispatcher-publish-tag` header: among
 * the publishes in flight with one message id, at most one goes without the header, and a return
 * without the header belongs to that one. The common case (unique ids) adds nothing to the message.
 */
export class ConfirmTracker {
  readonly channel: ConfirmChannel;
  #nextTag = 1;
  /** Ids for messages published without one (returns are matched by id). */
  #anonymous = 0;
  #closed = false;
  /**
   * Publishes awaiting their confirm, by tag: `#window[i]` is tag `#base + i`, settled slots are
   * `undefined`, `#head` is the first slot that may be live. Tags are consecutive and the broker confirms
   * roughly in order, so an array settles a `multiple` ack by walking its slots. (A Map iterated from its
   * start walks over every entry deleted since its last rehash: microseconds per ack frame.)
   */
  #window: Array<Entry | undefined> = [];
  #base = 1;
  #head = 0;
  /** Live slots in `#window`. */
  #live = 0;
  /** The one publish in flight without the tag header, per message id. */
  readonly #untagged = new Map<string, Entry>();
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
      const entry = this.#returnedEntry(message);
      if (entry) entry.returned = true;
    });
    channel.on('close', () => {
      this.#closed = true;
      const lost = new TasksError('DSP_TASKS_CHANNEL_LOST', 'the channel closed before the broker confirmed');
      // Closed: a callback that sends again is refused at once, so the window only shrinks meanwhile.
      const window = this.#window;
      for (let i = this.#head; i < window.length; i++) {
        const entry = window[i];
        if (entry) this.#finish(entry, lost);
      }
      this.#compact();
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Publishes awaiting their confirm. */
  get inFlight(): number {
    return this.#live;
  }

  /**
   * Publishes and resolves when the broker confirms. `options.messageId` is set when missing, and the
   * tag header when the id is already in flight (returns are matched by them). Returns the promise and
   * whether the channel's write buffer has room (`false` asks the caller to wait for `drain`).
   */
  publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
  ): { confirmed: Promise<void>; writable: boolean } {
    let writable = false;
    const confirmed = new Promise<void>((resolve, reject) => {
      writable = this.send(exchange, routingKey, content, options, (err) => (err ? reject(err) : resolve()));
    });
    return { confirmed, writable };
  }

  /**
   * {@link publish} without a promise (the publisher's hot path): `done` is called once, when the broker
   * confirmed (no argument) or refused the message, or when it cannot be sent or the channel closes first
   * (with the error; then possibly before `send` returns). Returns whether the channel's write buffer has
   * room.
   */
  send(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
    done: ConfirmTarget,
  ): boolean {
    if (this.#closed) {
      notify(done, new TasksError('DSP_TASKS_CHANNEL_LOST', 'the channel is closed'));
      return false;
    }
    let messageId = options.messageId as string | undefined;
    if (messageId === undefined) {
      messageId = `dsp-${++this.#anonymous}`;
      options = { ...options, messageId };
    }
    const tag = this.#nextTag;
    const tagged = this.#untagged.has(messageId);
    if (tagged) {
      options = { ...options, headers: { ...options.headers, [TaskHeaders.publishTag]: tag } };
    } else if (options.headers?.[TaskHeaders.publishTag] !== undefined) {
      // A message sent on again (retry, dead-letter) carries the tag of its earlier publish: drop it.
      const { [TaskHeaders.publishTag]: _stale, ...headers } = options.headers;
      options = { ...options, headers };
    }
    let writable: boolean;
    try {
      writable = this.channel.publish(exchange, routingKey, content, options);
    } catch (err) {
      // amqplib throws synchronously when the channel is closing or a header table is too large.
      if (err instanceof IllegalOperationError) {
        // Closing: nothing more goes out on it, even before its close event (a caller sending again at
        // once must see it closed, or it would loop).
        this.#closed = true;
        notify(done, new TasksError('DSP_TASKS_CHANNEL_LOST', 'the channel is closed', { cause: err }));
      } else {
        notify(done, new TasksError('DSP_TASKS_INVALID_ARGUMENT', (err as Error).message, { cause: err }));
      }
      return false;
    }
    this.#nextTag++;
    const entry: Entry = { tag, messageId, tagged, returned: false, done };
    this.#window.push(entry);
    this.#live++;
    if (!tagged) this.#untagged.set(messageId, entry);
    return writable;
  }

  /** Resolves when nothing awaits a confirm (or the channel closed). */
  whenIdle(): Promise<void> {
    if (this.#live === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.add(resolve));
  }

  #settle(tag: number, multiple: boolean, outcome: 'nack' | undefined): void {
    const window = this.#window;
    const index = tag - this.#base;
    if (!multiple) {
      const entry = index >= 0 ? window[index] : undefined;
      if (entry) this.#settleEntry(entry, outcome);
    } else {
      // Tag order; a callback that publishes again only appends beyond `index`.
      const last = Math.min(index, window.length - 1);
      for (let i = this.#head; i <= last; i++) {
        const entry = window[i];
        if (entry) this.#settleEntry(entry, outcome);
      }
    }
    this.#compact();
  }

  /** The entry of a tag still awaiting its confirm. */
  #entryOf(tag: number): Entry | undefined {
    const index = tag - this.#base;
    return index >= 0 ? this.#window[index] : undefined;
  }

  /** Moves `#head` past settled slots and drops them once they are most of the array. */
  #compact(): void {
    const window = this.#window;
    if (this.#live === 0) {
      this.#base += window.length;
      this.#window = [];
      this.#head = 0;
      return;
    }
    let head = this.#head;
    while (window[head] === undefined) head++;
    if (head > 1024 && head * 2 > window.length) {
      this.#window = window.slice(head);
      this.#base += head;
      head = 0;
    }
    this.#head = head;
  }

  #settleEntry(entry: Entry, outcome: 'nack' | undefined): void {
    if (outcome === 'nack') {
      this.#finish(entry, new TasksError('DSP_TASKS_NACKED', 'the broker refused the message (basic.nack)'));
    } else if (entry.returned) {
      this.#finish(entry, new TasksError('DSP_TASKS_UNROUTABLE', 'no queue is bound for this routing key'));
    } else {
      this.#finish(entry, undefined);
    }
  }

  /** The publish in flight a basic.return is about: by our tag header, else the untagged one of its id. */
  #returnedEntry(message: Message): Entry | undefined {
    const { headers, messageId } = message.properties;
    const tag: unknown = headers?.[TaskHeaders.publishTag];
    if (typeof tag === 'number') {
      const entry = this.#entryOf(tag);
      if (entry?.tagged) return entry;
    }
    return messageId === undefined ? undefined : this.#untagged.get(String(messageId));
  }

  #finish(entry: Entry, error: Error | undefined): void {
    this.#window[entry.tag - this.#base] = undefined;
    this.#live--;
    if (!entry.tagged && this.#untagged.get(entry.messageId) === entry)
      this.#untagged.delete(entry.messageId);
    notify(entry.done, error);
    if (this.#live === 0) {
      for (const resolve of [...this.#idle]) resolve();
      this.#idle.clear();
    }
  }
}
