import { decodeProperties } from '../codec/content-header.js';
import { shortStrBytes } from '../codec/frame-encoder.js';
import type { BasicProperties } from '../codec/generated/amqp-spec.js';
import type { StoredRef } from '../store/stored-ref.js';

/** Property flag bits of class basic (first property-flags word). */
export const PropertyFlag = {
  headers: 0x2000,
  deliveryMode: 0x1000,
  priority: 0x0800,
  replyTo: 0x0200,
  expiration: 0x0100,
} as const;

/** The last {@link Message.addressBytes} encoded, by exchange and routing key. */
let lastAddress: { exchange: string; routingKey: string; bytes: Buffer } = {
  exchange: '',
  routingKey: '',
  bytes: Buffer.from([0, 0]),
};

/** `expiration` not decoded yet / absent. */
const UNPARSED = -2;
const NONE = -1;

/**
 * A published message. It is stored once: every queue it is routed to references this object. The
 * property bytes are kept as the publisher sent them (flags included) and forwarded to consumers as-is.
 * A channel decodes (and so validates) them when the content header arrives and passes the result in;
 * messages the broker builds itself (dead-lettering, reply-to, BCC) decode their own encoding on first
 * use. The property flags tell cheaply whether a property is there at all.
 */
export class Message {
  #properties: BasicProperties | undefined;
  #expirationMs = UNPARSED;
  #addressBytes: Buffer | undefined;
  /** Routing keys from the `CC` and `BCC` headers (routed besides `routingKey`); undefined when none. */
  extraRoutingKeys: readonly string[] | undefined = undefined;
  /** The copy in the message store (persistent messages in durable queues of a persistent broker). */
  stored: StoredRef | undefined = undefined;

  constructor(
    /** Exchange the message was published to. */
    readonly exchange: string,
    /** Routing key it was published with. */
    readonly routingKey: string,
    /** Raw content properties: flags and property list. */
    readonly rawProperties: Buffer,
    readonly body: Buffer,
    /** Decode tables with the specification's type codes. */
    readonly strict = false,
    /** `rawProperties` already decoded (shared, never modified). */
    properties?: BasicProperties,
  ) {
    this.#properties = properties;
  }

  /**
   * Exchange and routing key as two AMQP short strings, the tail of basic.deliver's arguments: encoded on
   * the first delivery and reused for every other (fan-out, redelivery).
   */
  get addressBytes(): Buffer {
    if (this.#addressBytes === undefined) {
      // Consecutive messages mostly share exchange and routing key: share the bytes too (read-only).
      const last = lastAddress;
      if (last.exchange === this.exchange && last.routingKey === this.routingKey) {
        this.#addressBytes = last.bytes;
      } else {
        const ex = shortStrBytes(this.exchange);
        const rk = shortStrBytes(this.routingKey);
        this.#addressBytes = Buffer.concat([ex, rk], ex.length + rk.length);
        lastAddress = { exchange: this.exchange, routingKey: this.routingKey, bytes: this.#addressBytes };
      }
    }
    return this.#addressBytes;
  }

  /** Decoded properties (decoded on first use unless given to the constructor). */
  get properties(): BasicProperties {
    this.#properties ??= decodeProperties(this.rawProperties, this.strict);
    return this.#properties;
  }

  /** True when the property (a {@link PropertyFlag} bit) is present, without decoding anything. */
  has(flag: number): boolean {
    const raw = this.rawProperties;
    return raw.length >= 2 && (((raw[0]! << 8) | raw[1]!) & flag) !== 0;
  }

  /**
   * The per-message TTL from `expiration` in milliseconds, or -1 when there is none (or it is not a
   * non-negative integer; the channel refuses those at publish time).
   */
  get expirationMs(): number {
    if (this.#expirationMs === UNPARSED) {
      this.#expirationMs = this.has(PropertyFlag.expiration)
        ? parseExpiration(this.properties.expiration)
        : NONE;
    }
    return this.#expirationMs;
  }

  /** delivery-mode 2: the publisher asked for the message to survive a restart (in a durable queue). */
  get persistent(): boolean {
    return this.has(PropertyFlag.deliveryMode) && this.properties.deliveryMode === 2;
  }

  /** The `priority` property (0 when absent). */
  get priority(): number {
    return this.has(PropertyFlag.priority) ? (this.properties.priority ?? 0) : 0;
  }
}

/** Milliseconds from an `expiration` property, or -1 when it is absent or not a non-negative integer. */
export function parseExpiration(value: string | undefined): number {
  if (value === undefined || value.length === 0 || value.length > 16) return NONE;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NONE;
    n = n * 10 + c;
  }
  return n;
}
