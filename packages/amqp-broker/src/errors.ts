import { DispatcherError } from '@dispatcher/core';

/**
 * Error codes of `@dispatcher/amqp-broker`. A retired code is never reused; `docs/errors.md` lists the same set
 * (a test keeps them equal).
 */
export const BrokerErrorCodes = {
  /** An option or argument failed validation. */
  DSP_BROKER_INVALID_ARGUMENT: 'DSP_BROKER_INVALID_ARGUMENT',
  /** The object was closed (or is closing) and takes no more calls. */
  DSP_BROKER_CLOSED: 'DSP_BROKER_CLOSED',
} as const;

export type BrokerErrorCode = (typeof BrokerErrorCodes)[keyof typeof BrokerErrorCodes];

/** Errors raised by `@dispatcher/amqp-broker`. */
export class BrokerError extends DispatcherError<BrokerErrorCode> {}
