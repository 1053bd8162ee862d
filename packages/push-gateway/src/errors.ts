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
  // --- control plane, alerts, stats (wt-pushctl) ---
  /** A legacy RPC frame could not be read: bad length header, body too large, or not a JSON `{cmd, args}`. */
  DSP_PUSH_RPC_BAD_FRAME: 'DSP_PUSH_RPC_BAD_FRAME',
  /** A legacy RPC command is not known to this gateway. */
  DSP_PUSH_RPC_UNKNOWN_COMMAND: 'DSP_PUSH_RPC_UNKNOWN_COMMAND',
  /** A legacy RPC command took longer than its processing timeout. */
  DSP_PUSH_RPC_TIMEOUT: 'DSP_PUSH_RPC_TIMEOUT',
  /** An alert channel (webhook, sendmail, SMS gateway) did not accept an alert. */
  DSP_PUSH_ALERT_DELIVERY_FAILED: 'DSP_PUSH_ALERT_DELIVERY_FAILED',
  /** The named subscription, topic or dead letter does not exist. */
  DSP_PUSH_NOT_FOUND: 'DSP_PUSH_NOT_FOUND',
  /** The change is not allowed in this mode (subscriptions come from MySQL: only parameters can change). */
  DSP_PUSH_READ_ONLY: 'DSP_PUSH_READ_ONLY',
  /** The resource already exists or was changed concurrently (a clear already running, a duplicate id). */
  DSP_PUSH_CONFLICT: 'DSP_PUSH_CONFLICT',
  /** A control API request lacks a valid `Authorization: Bearer` token. */
  DSP_PUSH_UNAUTHORIZED: 'DSP_PUSH_UNAUTHORIZED',
  /** A control API request was refused: not from loopback without a token, or a write from another web origin. */
  DSP_PUSH_FORBIDDEN: 'DSP_PUSH_FORBIDDEN',
  /** A control API request's `Host` header does not name the API (DNS rebinding guard). */
  DSP_PUSH_MISDIRECTED: 'DSP_PUSH_MISDIRECTED',
  /** An unexpected failure inside the gateway (a bug or an unreachable dependency); details are logged. */
  DSP_PUSH_INTERNAL: 'DSP_PUSH_INTERNAL',
  /** `amender` could not reach a beanstalkd server or failed on one of its tubes. */
  DSP_PUSH_AMENDER_FAILED: 'DSP_PUSH_AMENDER_FAILED',
} as const;

export type PushErrorCode = (typeof PushErrorCodes)[keyof typeof PushErrorCodes];

/** Errors raised by `@dispatcher/push-gateway`. */
export class PushError extends DispatcherError<PushErrorCode> {}
