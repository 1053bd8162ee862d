import { DispatcherError } from '@dispatcher/core';

/**
 * True for the store's write failures (disk full, I/O error, PostgreSQL unreachable): the request was not
 * stored, and the proxy answers 503 with Retry-After rather than 500, since the condition passes once the
 * disk takes writes or the database answers again.
 */
export function isStorageFailure(err: unknown): boolean {
  return (
    DispatcherError.hasCode(err, 'DSP_CORE_LOG_NO_SPACE') ||
    DispatcherError.hasCode(err, 'DSP_CORE_LOG_IO') ||
    DispatcherError.hasCode(err, 'DSP_PROXY_STORE_UNAVAILABLE')
  );
}

/** Retry-After (seconds) sent with 503 while the store cannot write: the log probes the disk every second. */
export const STORAGE_RETRY_AFTER_S = '1';
