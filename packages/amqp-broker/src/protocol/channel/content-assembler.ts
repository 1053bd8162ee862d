/**
 * Content assembly of one channel: basic.publish, then a content header frame, then body frames until
 * the size the header announced, make one message. Any other frame in between is a 505 UNEXPECTED_FRAME.
 *
 *   idle ──basic.publish──▶ awaiting-header ──header(size 0)──────────────────────────▶ idle (content)
 *                                            └─header(size n)──▶ awaiting-body ──body…──▶ idle (content)
 *
 * The properties are decoded when the header arrives; malformed ones are kept as the error the publish
 * fails with once the content is complete (RabbitMQ's moment: 541), and their body is counted, not kept.
 * A body is collected as it arrives (never allocated up front from the size a header announces).
 */
import {
  contentBodySize,
  contentClassId,
  decodePublishedProperties,
  PROPERTIES_OFFSET,
} from '../../codec/content-header.js';
import {
  type BasicProperties,
  type BasicPublish,
  ClassId,
  FRAME_ERROR,
  INTERNAL_ERROR,
  methodName,
  PRECONDITION_FAILED,
  UNEXPECTED_FRAME,
} from '../../codec/generated/amqp-spec.js';
import { AmqpError, channelError, connectionError } from '../../errors.js';

/** Decoded content properties, or why they are malformed (the publish fails once its body is in). */
export type DecodedProperties = BasicProperties | AmqpError;

/** A complete content: the publish it came with, its properties (raw and decoded) and its body. */
export interface AssembledContent {
  readonly publish: BasicPublish;
  readonly properties: Buffer;
  readonly decoded: DecodedProperties;
  readonly body: Buffer;
}

export interface ContentAssemblerOptions {
  /** Channel number, for error texts. */
  readonly channel: number;
  /** Largest body accepted (406 above). */
  readonly maxMessageBytes: number;
  /** Field tables in properties use the spec's type codes instead of RabbitMQ's. */
  readonly strictFieldTypes: boolean;
}

type AssemblyState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'awaiting-header'; readonly publish: BasicPublish }
  | {
      readonly kind: 'awaiting-body';
      readonly publish: BasicPublish;
      readonly properties: Buffer;
      readonly decoded: DecodedProperties;
      /** The size the header announced. */
      readonly size: number;
      /** Received bytes are `body[0, received)`; it grows as frames arrive, up to `size`. */
      body: Buffer;
      received: number;
    };

const IDLE: AssemblyState = { kind: 'idle' };
const EMPTY_BODY = Buffer.alloc(0);

export class ContentAssembler {
  readonly #options: ContentAssemblerOptions;
  #state: AssemblyState = IDLE;
  /** Property bytes of the last content on this channel (shared while they repeat)… */
  #lastProperties: Buffer = EMPTY_BODY;
  /** …and what they decoded to. */
  #lastDecoded: DecodedProperties = {};

  constructor(options: ContentAssemblerOptions) {
    this.#options = options;
  }

  /** What the assembler waits for. */
  get state(): AssemblyState['kind'] {
    return this.#state.kind;
  }

  /** basic.publish arrived: its content follows. */
  start(publish: BasicPublish): void {
    this.#state = { kind: 'awaiting-header', publish };
  }

  /** Drops a partly received content (the channel is closing). */
  reset(): void {
    this.#state = IDLE;
  }

  /** A method frame arrived: 505 unless no content is being assembled. */
  checkMethod(id: number): void {
    const kind = this.#state.kind;
    if (kind === 'idle') return;
    throw connectionError(
      UNEXPECTED_FRAME,
      `expected content ${kind === 'awaiting-header' ? 'header' : 'body'} for class ${ClassId.Basic}, got method ${methodName(id)} instead`,
      { classId: id >>> 16, methodId: id & 0xffff },
    );
  }

  /** A content header frame (payload `buf[start, end)`); returns the content when its body is empty. */
  header(buf: Buffer, start: number, end: number): AssembledContent | undefined {
    const state = this.#state;
    if (state.kind !== 'awaiting-header') throw this.#unexpected('header');
    const classId = contentClassId(buf, start, end);
    const bodySize = contentBodySize(buf, start);
    if (classId !== ClassId.Basic) {
      throw connectionError(
        UNEXPECTED_FRAME,
        `expected content header for class ${ClassId.Basic}, got one for class ${classId} instead`,
        { classId: ClassId.Basic, methodId: 40 },
      );
    }
    const max = this.#options.maxMessageBytes;
    if (bodySize > max) {
      this.#state = IDLE;
      throw channelError(
        PRECONDITION_FAILED,
        `message size ${bodySize} is larger than configured max size ${max}`,
        {
          classId: ClassId.Basic,
          methodId: 40,
        },
      );
    }
    const properties = this.#propertiesOf(buf, start + PROPERTIES_OFFSET, end);
    const decoded = this.#lastDecoded;
    if (bodySize === 0) {
      this.#state = IDLE;
      return { publish: state.publish, properties, decoded, body: EMPTY_BODY };
    }
    this.#state = {
      kind: 'awaiting-body',
      publish: state.publish,
      properties,
      decoded,
      size: bodySize,
      body: EMPTY_BODY,
      received: 0,
    };
    return undefined;
  }

  /** A content body frame (payload `buf[start, end)`); returns the content once it is complete. */
  body(buf: Buffer, start: number, end: number): AssembledContent | undefined {
    const state = this.#state;
    if (state.kind !== 'awaiting-body') throw this.#unexpected('body');
    const received = state.received + (end - start);
    if (received > state.size) {
      throw connectionError(
        FRAME_ERROR,
        `content body larger than the ${state.size} bytes announced by its header`,
      );
    }
    // Malformed properties: the message will be refused, so its bytes are only counted.
    if (!AmqpError.isAmqpError(state.decoded)) {
      if (received > state.body.length) state.body = grow(state.body, state.received, received, state.size);
      buf.copy(state.body, state.received, start, end);
    }
    state.received = received;
    if (received !== state.size) return undefined;
    this.#state = IDLE;
    return { publish: state.publish, properties: state.properties, decoded: state.decoded, body: state.body };
  }

  #unexpected(frame: 'header' | 'body'): AmqpError {
    return connectionError(
      UNEXPECTED_FRAME,
      `unexpected content ${frame} frame on channel ${this.#options.channel}`,
    );
  }

  /**
   * The property bytes of a content header, copied out of the socket chunk (the message may outlive it),
   * and decoded into `#lastDecoded` — or the previous content's copy and decoding when they are the same
   * bytes (messages never modify either).
   */
  #propertiesOf(buf: Buffer, start: number, end: number): Buffer {
    const last = this.#lastProperties;
    const n = end - start;
    if (last.length === n) {
      let i = 0;
      while (i < n && last[i] === buf[start + i]) i++;
      if (i === n) return last;
    }
    const copy = Buffer.allocUnsafe(n);
    buf.copy(copy, 0, start, end);
    this.#lastProperties = copy;
    this.#lastDecoded = this.#decode(copy);
    return copy;
  }

  /** RabbitMQ fails to decode such properties and closes the connection with 541 (no method named). */
  #decode(raw: Buffer): DecodedProperties {
    try {
      return decodePublishedProperties(raw, this.#options.strictFieldTypes);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return connectionError(INTERNAL_ERROR, `malformed content properties: ${reason}`, { cause: err });
    }
  }
}

/**
 * A body buffer with room for at least `needed` bytes (its first `used` bytes kept): doubled each time,
 * capped at the announced `size`, so memory follows the bytes that actually arrived.
 */
function grow(body: Buffer, used: number, needed: number, size: number): Buffer {
  const capacity = Math.min(size, Math.max(needed, body.length * 2));
  const bigger = Buffer.allocUnsafe(capacity);
  body.copy(bigger, 0, 0, used);
  return bigger;
}
