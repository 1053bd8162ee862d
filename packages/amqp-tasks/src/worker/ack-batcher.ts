import type { Channel, Message } from 'amqplib';

/**
 * Coalesces the acks of one channel. Acks marked during one turn of the event loop go out together at
 * the next: the settled run at the front of the outstanding deliveries as one `basic.ack` with
 * `multiple`, the others one by one (a slow task at the front must not hold back acks behind it, or the
 * prefetch window would fill up). Nacks flush pending acks first, then go out at once.
 */
export class AckBatcher {
  readonly #channel: Channel;
  readonly #onDrop: (count: number) => void;
  /** Delivery tags received and not yet settled towards the broker, in tag order (Set keeps insertion order). */
  readonly #outstanding = new Set<number>();
  readonly #marked = new Map<number, Message>();
  #scheduled = false;

  /** `onDrop` learns how many acks could not be sent because the channel had closed. */
  constructor(channel: Channel, onDrop: (count: number) => void) {
    this.#channel = channel;
    this.#onDrop = onDrop;
  }

  received(message: Message): void {
    this.#outstanding.add(message.fields.deliveryTag);
  }

  ack(message: Message): void {
    this.#marked.set(message.fields.deliveryTag, message);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.flush();
    });
  }

  /**
   * True once `message` was acked (marked or sent) or nacked, and for any message once the channel's state
   * was discarded: a settle must not be sent for it again.
   */
  isSettled(message: Message): boolean {
    const tag = message.fields.deliveryTag;
    return !this.#outstanding.has(tag) || this.#marked.has(tag);
  }

  /** Forgets what is marked (the channel is gone); returns how many acks that drops. */
  discard(): number {
    const count = this.#marked.size;
    this.#marked.clear();
    this.#outstanding.clear();
    return count;
  }

  /** Throws when the channel is closed. */
  nack(message: Message, requeue: boolean): void {
    this.flush();
    this.#outstanding.delete(message.fields.deliveryTag);
    this.#channel.nack(message, false, requeue);
  }

  /** Sends what is marked; what a closed channel refuses is dropped and reported to `onDrop`. */
  flush(): void {
    if (this.#marked.size === 0) return;
    try {
      this.#send();
    } catch {
      // amqplib throws IllegalOperationError once the channel is closing: these acks can never be sent.
      const dropped = this.discard();
      if (dropped > 0) this.#onDrop(dropped);
    }
  }

  #send(): void {
    let last: Message | undefined;
    let run = 0;
    for (const tag of this.#outstanding) {
      const message = this.#marked.get(tag);
      if (!message) break;
      last = message;
      run++;
    }
    if (last && run > 1) {
      const lastTag = last.fields.deliveryTag;
      for (const tag of this.#outstanding) {
        if (tag > lastTag) break;
        this.#outstanding.delete(tag);
        this.#marked.delete(tag);
      }
      this.#channel.ack(last, true);
    }
    for (const [tag, message] of this.#marked) {
      this.#outstanding.delete(tag);
      this.#channel.ack(message, false);
    }
    this.#marked.clear();
  }

  /** Acks marked but not yet sent (dropped if the channel dies first). */
  get pending(): number {
    return this.#marked.size;
  }
}
