/**
 * A basic.consume of a channel, as its queue sees it: the queue asks it whether it can take a message and
 * hands messages to it; both go to the channel (credit, delivery tags, the socket).
 */
import { shortStrBytes } from '../../codec/frame-encoder.js';
import type { Queue, QueueConsumer, QueueEntry } from '../../queue/queue.js';

/** What a consumer needs from its channel. */
export interface ConsumerChannel {
  canDeliverTo(consumer: ChannelConsumer): boolean;
  deliver(consumer: ChannelConsumer, queue: Queue, entry: QueueEntry): void;
  consumerCancelledByBroker(consumer: ChannelConsumer): void;
}

export class ChannelConsumer implements QueueConsumer {
  /** Deliveries to this consumer not settled yet (its prefetch counts these). */
  unacked = 0;
  /** The tag as an AMQP short string (encoded once, written into every basic.deliver). */
  readonly tagBytes: Buffer;

  constructor(
    readonly channel: ConsumerChannel,
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
