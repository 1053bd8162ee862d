import { DispatcherError } from './dispatcher-error.js';

/**
 * Error codes of `@dispatcher/core`. A retired code is never reused; `docs/errors.md` lists the same set
 * (a test keeps them equal).
 */
export const CoreErrorCodes = {
  /** An option or argument failed validation. */
  DSP_CORE_INVALID_ARGUMENT: 'DSP_CORE_INVALID_ARGUMENT',
  /** The object was closed (or is closing) and takes no more calls. */
  DSP_CORE_CLOSED: 'DSP_CORE_CLOSED',
  /** The operation was cancelled through an AbortSignal. */
  DSP_CORE_ABORTED: 'DSP_CORE_ABORTED',
  /** A graceful close did not finish within its deadline. */
  DSP_CORE_CLOSE_TIMEOUT: 'DSP_CORE_CLOSE_TIMEOUT',
  /** Another process (or another open handle) holds the log directory's lock. */
  DSP_CORE_LOG_LOCKED: 'DSP_CORE_LOG_LOCKED',
  /** A log file is not a Dispatcher log segment, or has an unsupported version. */
  DSP_CORE_LOG_FORMAT: 'DSP_CORE_LOG_FORMAT',
  /** A record failed its checksum or framing check when read back. */
  DSP_CORE_LOG_CORRUPT: 'DSP_CORE_LOG_CORRUPT',
  /** No live record exists with the requested sequence number. */
  DSP_CORE_LOG_NOT_FOUND: 'DSP_CORE_LOG_NOT_FOUND',
  /** A record is larger than the log's `maxRecordBytes`. */
  DSP_CORE_LOG_RECORD_TOO_LARGE: 'DSP_CORE_LOG_RECORD_TOO_LARGE',
  /**
   * A write, fdatasync or truncate failed (EIO, …): the appends of that batch were rejected and their bytes
   * removed; later appends are tried again, and the log retries its own pending state.
   */
  DSP_CORE_LOG_IO: 'DSP_CORE_LOG_IO',
  /**
   * The log's file system is full (ENOSPC, EDQUOT or a short write): the appends of that batch were
   * rejected and their bytes removed; appends succeed again once space is freed, without a restart.
   */
  DSP_CORE_LOG_NO_SPACE: 'DSP_CORE_LOG_NO_SPACE',
  /** The operation needs event-sourcing mode (full history), and the log was opened without it. */
  DSP_CORE_LOG_NO_HISTORY: 'DSP_CORE_LOG_NO_HISTORY',
  /** A serialised message could not be decoded. */
  DSP_CORE_MESSAGE_DECODE: 'DSP_CORE_MESSAGE_DECODE',
  /** A Retry-After value could not be parsed. */
  DSP_CORE_RETRY_AFTER_INVALID: 'DSP_CORE_RETRY_AFTER_INVALID',
  /** An entry of a destination allow-list (such as `ALLOWED_DESTINATIONS`) is malformed. */
  DSP_CORE_DESTINATION_LIST_INVALID: 'DSP_CORE_DESTINATION_LIST_INVALID',
  /** The destination policy refused every address a connection could have used. */
  DSP_CORE_DESTINATION_NOT_ALLOWED: 'DSP_CORE_DESTINATION_NOT_ALLOWED',
  /** A webhook signing secret is empty, or starts with `whsec_` without base64 after it. */
  DSP_CORE_WEBHOOK_SECRET_INVALID: 'DSP_CORE_WEBHOOK_SECRET_INVALID',
} as const;

export type CoreErrorCode = (typeof CoreErrorCodes)[keyof typeof CoreErrorCodes];

/** Errors raised by `@dispatcher/core`. */
export class CoreError extends DispatcherError<CoreErrorCode> {}
