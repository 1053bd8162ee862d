import { DispatcherError } from '@dispatcher/core';

/**
 * Error codes of `@dispatcher/http-proxy`. A retired code is never reused; `docs/errors.md` lists the same set
 * (a test keeps them equal).
 */
export const ProxyErrorCodes = {
  /** An option or argument failed validation. */
  DSP_PROXY_INVALID_ARGUMENT: 'DSP_PROXY_INVALID_ARGUMENT',
  /** The object was closed (or is closing) and takes no more calls. */
  DSP_PROXY_CLOSED: 'DSP_PROXY_CLOSED',
  /** A stored request could not be decoded (the log record is not a proxy request). */
  DSP_PROXY_RECORD_DECODE: 'DSP_PROXY_RECORD_DECODE',
  /** No message or dead letter with that id is known (the admin API answers 404 `not_found`). */
  DSP_PROXY_NOT_FOUND: 'DSP_PROXY_NOT_FOUND',
  /** The PostgreSQL store cannot be reached or refused the write (ingest answers 503 with Retry-After). */
  DSP_PROXY_STORE_UNAVAILABLE: 'DSP_PROXY_STORE_UNAVAILABLE',
  /** The database schema is newer than this binary understands: start-up stops (upgrade the binary). */
  DSP_PROXY_SCHEMA_TOO_NEW: 'DSP_PROXY_SCHEMA_TOO_NEW',
  /** A delivery thread exited with calls in flight: they count as failures on our side and are made again. */
  DSP_PROXY_DELIVERY_THREAD: 'DSP_PROXY_DELIVERY_THREAD',
} as const;

export type ProxyErrorCode = (typeof ProxyErrorCodes)[keyof typeof ProxyErrorCodes];

/** Errors raised by `@dispatcher/http-proxy`. */
export class ProxyError extends DispatcherError<ProxyErrorCode> {}
