import { DispatcherError } from '@dispatcher/core';

/**
 * Error codes of `@dispatcher/push-gateway`. A retired code is never reused; `docs/errors.md` lists the same set
 * (a test keeps them equal).
 */
export const PushErrorCodes = {
  /** An option or argument failed validation. */
  DSP_PUSH_INVALID_ARGUMENT: 'DSP_PUSH_INVALID_ARGUMENT',
  /** The object was closed (or is closing) and takes no more calls. */
  DSP_PUSH_CLOSED: 'DSP_PUSH_CLOSED',
} as const;

export type PushErrorCode = (typeof PushErrorCodes)[keyof typeof PushErrorCodes];

/** Errors raised by `@dispatcher/push-gateway`. */
export class PushError extends DispatcherError<PushErrorCode> {}
