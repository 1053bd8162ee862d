import { exponentialBackoff } from '@dispatcher/core';

const BASE_MS = 1_000;
const CAP_MS = 30_000;

/**
 * For an attempt that failed on our side (a disk error, a record over the log's size limit, signing…), not
 * the destination's: 1 s after the first such error, doubling per consecutive one, up to 30 s. No jitter:
 * these retries wait for our own disk, not a shared server.
 */
const policy = exponentialBackoff({
  baseMs: BASE_MS,
  capMs: CAP_MS,
  factor: 2,
  jitter: 'none',
  maxAttempts: Number.POSITIVE_INFINITY,
});

/** Milliseconds to wait after the `errors`-th consecutive failure on our side (1 = the first). */
export function ownFailureBackoffMs(errors: number): number {
  const now = Date.now();
  const decision = policy.next({ attempt: errors, firstAttemptAt: now, now });
  // Never gives up (no attempt or age limit); the fallback only satisfies the type.
  return decision.action === 'retry' ? decision.delayMs : CAP_MS;
}
