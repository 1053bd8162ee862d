/**
 * The result of one delivery attempt as a classifier sees it: the response status the peer returned
 * (with its already parsed `Retry-After`, if any), or the error the attempt threw.
 */
export type RetryOutcome =
  | { readonly kind: 'status'; readonly status: number; readonly retryAfterMs?: number }
  | { readonly kind: 'error'; readonly error: unknown };

/**
 * What an outcome means for the message:
 * - `success`: delivered; stop.
 * - `retry`: a transient failure; ask the retry policy when to try again.
 * - `dead-letter`: a permanent failure; park the message where an operator can inspect and replay it.
 * - `give-up`: a failure not worth keeping; drop the message (e.g. a push gateway's 410 for a device token
 *   that no longer exists).
 */
export type RetryClassification = 'success' | 'retry' | 'dead-letter' | 'give-up';

/** Maps an attempt's outcome to a {@link RetryClassification}. Must be pure (no I/O, same input, same answer). */
export type RetryClassifier = (outcome: RetryOutcome) => RetryClassification;
