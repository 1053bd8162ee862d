/**
 * Record types in the proxy's logs. Main log: a request stays live until delivered or dead-lettered; its
 * latest ATTEMPT record (retry state) lives beside it; IDEMPOTENCY records live until their window ends.
 * Dead-letter log: one DEAD record per dead-lettered request, live until redriven or purged.
 */
export const MainRecord = {
  Request: 1,
  Attempt: 2,
  Idempotency: 3,
} as const;

export const DeadRecord = {
  Dead: 1,
} as const;

/** Retry state of a request that failed at least once; survives restarts so schedules continue. */
export interface AttemptState {
  /** Attempts made so far. */
  attempt: number;
  /** When the next attempt is due, epoch ms. */
  nextAt: number;
  firstAttemptAt: number;
  previousDelayMs: number;
  lastStatus?: number;
  lastError?: string;
}

/** Why and how a request ended in the dead-letter store. */
export interface DeadLetterInfo {
  reason: string;
  attempts: number;
  lastStatus?: number;
  lastError?: string;
  /** Epoch ms. */
  deadAt: number;
  /** Destination origin, for filters. */
  host: string;
}
