import { CoreError } from '../errors.js';
import { newMessageId } from './message-id.js';

/** Header values are strings; repeated headers (HTTP) keep every value in order. */
export type MessageHeaders = Record<string, string | string[]>;

/** The unit every Dispatcher variant stores and delivers. */
export interface Message {
  /** Unique id (UUIDv7 by default), stable across retries and restarts. */
  readonly id: string;
  /** The payload, byte-exact. */
  readonly body: Uint8Array;
  /** Transport headers (HTTP headers, AMQP string headers, push metadata). */
  readonly headers: MessageHeaders;
  /** Delivery attempts made so far (0 before the first). */
  readonly attempt: number;
  /** When the message was accepted, epoch ms. */
  readonly createdAt: number;
  /** Deliver no earlier than this, epoch ms (scheduled delivery and retry backoff). */
  readonly notBefore?: number;
  /** When the last attempt started, epoch ms. */
  readonly lastAttemptAt?: number;
}

export interface CreateMessageInput {
  body: Uint8Array | string;
  headers?: MessageHeaders;
  /** Defaults to a new UUIDv7. */
  id?: string;
  /** Epoch ms; defaults to `Date.now()`. */
  now?: number;
  notBefore?: number;
}

/** Longest id the compact codec stores (bytes of UTF-8). */
export const MAX_MESSAGE_ID_BYTES = 255;

export function createMessage(input: CreateMessageInput): Message {
  const now = input.now ?? Date.now();
  const id = input.id ?? newMessageId(now);
  if (id.length === 0 || Buffer.byteLength(id) > MAX_MESSAGE_ID_BYTES) {
    throw new CoreError('DSP_CORE_INVALID_ARGUMENT', `message id must be 1..${MAX_MESSAGE_ID_BYTES} bytes`);
  }
  const body = typeof input.body === 'string' ? Buffer.from(input.body) : input.body;
  const message: Message = {
    id,
    body,
    headers: input.headers ?? {},
    attempt: 0,
    createdAt: now,
    ...(input.notBefore === undefined ? {} : { notBefore: input.notBefore }),
  };
  return message;
}

/** The message after one more attempt started at `now`. */
export function withAttempt(message: Message, now: number = Date.now()): Message {
  return { ...message, attempt: message.attempt + 1, lastAttemptAt: now };
}
