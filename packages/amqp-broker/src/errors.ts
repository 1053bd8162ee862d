import { DispatcherError, type DispatcherErrorOptions } from '@dispatcher/core';
import { REPLY_CODE_NAMES } from './codec/generated/amqp-constants.js';

/**
 * Error codes of `@dispatcher/amqp-broker`. A retired code is never reused; `docs/errors.md` lists the same set
 * (a test keeps them equal).
 */
export const BrokerErrorCodes = {
  /** An option or argument failed validation. */
  DSP_BROKER_INVALID_ARGUMENT: 'DSP_BROKER_INVALID_ARGUMENT',
  /** The object was closed (or is closing) and takes no more calls. */
  DSP_BROKER_CLOSED: 'DSP_BROKER_CLOSED',
  /** The listening socket could not be opened (port in use, permission denied…). */
  DSP_BROKER_LISTEN_FAILED: 'DSP_BROKER_LISTEN_FAILED',
  /**
   * An AMQP soft error: the peer's request failed and the broker closes that one channel with the carried
   * reply code (403, 404, 405, 406…). The connection stays open.
   */
  DSP_BROKER_CHANNEL_EXCEPTION: 'DSP_BROKER_CHANNEL_EXCEPTION',
  /**
   * An AMQP hard error: the broker closes the whole connection with the carried reply code (501 frame error,
   * 502 syntax error, 503 command invalid, 504 channel error, 505 unexpected frame, 530 not allowed…).
   * Every decoder failure on malformed bytes is one of these.
   */
  DSP_BROKER_CONNECTION_EXCEPTION: 'DSP_BROKER_CONNECTION_EXCEPTION',
  /** A record of the message store cannot be decoded (reported at recovery and skipped, never guessed). */
  DSP_BROKER_STORE_CORRUPT: 'DSP_BROKER_STORE_CORRUPT',
  /** The definitions file in the persist directory is not valid (start-up stops rather than lose entities). */
  DSP_BROKER_STORE_FORMAT: 'DSP_BROKER_STORE_FORMAT',
  /**
   * The `tls` listener options cannot be used: the certificate, key or CA is not valid PEM, or the key does
   * not match the certificate.
   */
  DSP_BROKER_TLS_CONFIG: 'DSP_BROKER_TLS_CONFIG',
  /** The management (or Prometheus) HTTP listener could not be opened (port in use, bad certificate…). */
  DSP_BROKER_ADMIN_LISTEN_FAILED: 'DSP_BROKER_ADMIN_LISTEN_FAILED',
} as const;

export type BrokerErrorCode = (typeof BrokerErrorCodes)[keyof typeof BrokerErrorCodes];

/** Errors raised by `@dispatcher/amqp-broker`. */
export class BrokerError extends DispatcherError<BrokerErrorCode> {}

/** Whether an {@link AmqpError} closes one channel or the whole connection. */
export type AmqpErrorScope = 'channel' | 'connection';

/** Options of {@link AmqpError}: the method that failed (0/0 when no method is to blame). */
export interface AmqpErrorOptions extends DispatcherErrorOptions {
  /** Class id of the method that caused the error. @defaultValue 0 */
  classId?: number;
  /** Method id of the method that caused the error. @defaultValue 0 */
  methodId?: number;
}

/**
 * An AMQP protocol exception: carries the reply code and text that go into `channel.close` or
 * `connection.close`, the class and method ids of the offending method, and its scope.
 */
export class AmqpError extends BrokerError {
  readonly replyCode: number;
  readonly scope: AmqpErrorScope;
  classId: number;
  methodId: number;

  constructor(scope: AmqpErrorScope, replyCode: number, message: string, options: AmqpErrorOptions = {}) {
    super(
      scope === 'channel' ? 'DSP_BROKER_CHANNEL_EXCEPTION' : 'DSP_BROKER_CONNECTION_EXCEPTION',
      message,
      options,
    );
    this.scope = scope;
    this.replyCode = replyCode;
    this.classId = options.classId ?? 0;
    this.methodId = options.methodId ?? 0;
  }

  /** Names the method that failed (when the thrower did not know it). */
  setMethod(classId: number, methodId: number): void {
    this.classId = classId;
    this.methodId = methodId;
  }

  /** The AMQP reply text: the reply code's name then the message, as RabbitMQ writes it. */
  get replyText(): string {
    const name = REPLY_CODE_NAMES[this.replyCode];
    const text = name === undefined ? this.message : `${name} - ${this.message}`;
    // reply-text is a shortstr: at most 255 bytes.
    return Buffer.byteLength(text) <= 255 ? text : Buffer.from(text).subarray(0, 255).toString('utf8');
  }

  /** True when `value` is an AmqpError (works across package copies through the DispatcherError marker). */
  static isAmqpError(value: unknown): value is AmqpError {
    return (
      DispatcherError.isInstance(value) &&
      (value.code === 'DSP_BROKER_CHANNEL_EXCEPTION' || value.code === 'DSP_BROKER_CONNECTION_EXCEPTION') &&
      typeof (value as { replyCode?: unknown }).replyCode === 'number'
    );
  }
}

/** A soft error that closes the channel. */
export function channelError(replyCode: number, message: string, options?: AmqpErrorOptions): AmqpError {
  return new AmqpError('channel', replyCode, message, options);
}

/** A hard error that closes the connection. */
export function connectionError(replyCode: number, message: string, options?: AmqpErrorOptions): AmqpError {
  return new AmqpError('connection', replyCode, message, options);
}
