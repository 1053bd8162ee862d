/**
 * Direct reply-to of one channel: a no-ack consumer on the `amq.rabbitmq.reply-to` pseudo-queue registers
 * the channel with the vhost under a random token; publishes from the channel with that `reply-to` get it
 * rewritten to `amq.rabbitmq.reply-to.<token>`, and replies published to that name are delivered to the
 * channel directly (no queue, no acks).
 *
 *   none ──basic.consume(amq.rabbitmq.reply-to, no-ack)──▶ consuming ──basic.cancel / channel closed──▶ none
 */
import { ByteWriter } from '../../codec/byte-writer.js';
import { ClassId, encodeBasicProperties, PRECONDITION_FAILED } from '../../codec/generated/amqp-spec.js';
import { channelError } from '../../errors.js';
import { Message } from '../../queue/message.js';
import { REPLY_TO_QUEUE, type ReplyConsumer, type VirtualHost } from '../../vhost/virtual-host.js';

type ReplyState =
  | { readonly kind: 'none' }
  | { readonly kind: 'consuming'; readonly tag: string; readonly token: string };

const NONE: ReplyState = { kind: 'none' };

export class DirectReplyTo {
  readonly #vhost: VirtualHost;
  /** Where replies go (the channel). */
  readonly #consumer: ReplyConsumer;
  #state: ReplyState = NONE;

  constructor(vhost: VirtualHost, consumer: ReplyConsumer) {
    this.#vhost = vhost;
    this.#consumer = consumer;
  }

  /** The reply consumer's tag (undefined: none). */
  get tag(): string | undefined {
    return this.#state.kind === 'consuming' ? this.#state.tag : undefined;
  }

  /** RabbitMQ's 406s for a reply consumer that acks, or a second one. */
  checkConsume(noAck: boolean): void {
    if (!noAck) throw channelError(PRECONDITION_FAILED, 'reply consumer cannot acknowledge');
    if (this.#state.kind === 'consuming')
      throw channelError(PRECONDITION_FAILED, 'reply consumer already set');
  }

  /** Registers the reply consumer `tag` (checked with {@link checkConsume}). */
  consume(tag: string): void {
    this.#state = { kind: 'consuming', tag, token: this.#vhost.addReplyConsumer(this.#consumer) };
  }

  /** basic.cancel of the reply consumer, or the channel closed. */
  cancel(): void {
    if (this.#state.kind === 'consuming') this.#vhost.removeReplyConsumer(this.#state.token);
    this.#state = NONE;
  }

  /** Rewrites `reply-to: amq.rabbitmq.reply-to` to this channel's reply name (406 without a consumer). */
  rewrite(message: Message): Message {
    if (this.#state.kind !== 'consuming') {
      throw channelError(PRECONDITION_FAILED, 'fast reply consumer does not exist', {
        classId: ClassId.Basic,
        methodId: 40,
      });
    }
    const w = new ByteWriter(message.rawProperties.length + 32, message.strict);
    encodeBasicProperties(w, { ...message.properties, replyTo: `${REPLY_TO_QUEUE}.${this.#state.token}` });
    return new Message(message.exchange, message.routingKey, w.toBuffer(), message.body, message.strict);
  }
}
