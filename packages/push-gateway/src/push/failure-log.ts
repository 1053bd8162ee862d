import type { JobMessage } from '../job/job-message.js';
import type { Subscription } from '../subscriptions/subscription.js';

/** A failed attempt, as the original's `broadcast_failure_log` records it. */
export interface FailureRecord {
  readonly subscription: Subscription;
  readonly message: JobMessage;
  /** Push `jobid`. */
  readonly jobId: string;
  /** URL the attempt went to. */
  readonly url: string;
  /** What went wrong (`Code: 500\nContent: …`). */
  readonly error: string;
}

/**
 * Where failures go (MySQL mode: `broadcast_failure_log`, so the control panel keeps working). Optional: the
 * Redis-only mode has none.
 */
export interface FailureLog {
  /** Inserts (logId 0) or updates the row; resolves the row id. */
  recordFailure(record: FailureRecord, logId: number): Promise<number>;
  /** `final_status` (1 delivered / 0 not), `alive` (1 still retrying), `retry_times`. */
  setFinalStatus(logId: number, delivered: boolean, alive: boolean, retryTimes: number): Promise<void>;
}
