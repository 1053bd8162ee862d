import { decodeProperties } from '../codec/content-header.js';
import type { BasicProperties } from '../codec/generated/amqp-spec.js';

/**
 * A published message. It is stored once: every queue it is routed to references this object. The
 * property bytes are kept as the publisher sent them (flags included) and forwarded to consumers as-is;
 * they are decoded only when a feature needs a property (headers routing, TTL, priority…).
 */
export class Message {
  #properties: BasicProperties | undefined;

  constructor(
    /** Exchange the message was published to. */
    readonly exchange: string,
    /** Routing key it was published with. */
    readonly routingKey: string,
    /** Raw content properties: flags and property list. */
    readonly rawProperties: Buffer,
    readonly body: Buffer,
    /** Decode tables with the specification's type codes. */
    private readonly strict = false,
  ) {}

  /** Decoded properties (decoded on first use; throws an AmqpError 501 when malformed). */
  get properties(): BasicProperties {
    this.#properties ??= decodeProperties(this.rawProperties, this.strict);
    return this.#properties;
  }
}
