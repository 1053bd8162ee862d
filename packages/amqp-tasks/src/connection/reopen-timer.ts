import { exponentialBackoff, type RetryPolicy } from '@dispatcher/core';

/**
 * The pause before a worker or the publisher opens a new channel after losing one: core's exponential
 * backoff with equal jitter, counted per failure and reset once a channel works. A timer, not a loop: the
 * connection's own recovery may be what is needed, and it re-attaches the owner meanwhile.
 */
export class ReopenTimer {
  readonly #backoff: RetryPolicy;
  readonly #reopen: () => void;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;

  /** `baseMs`: the first pause (doubling up to 5 s) before `reopen` is called. */
  constructor(baseMs: number, reopen: () => void) {
    this.#backoff = exponentialBackoff({ baseMs, capMs: 5_000, jitter: 'equal', maxAttempts: Infinity });
    this.#reopen = reopen;
  }

  /** True while a reopen is scheduled. */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /** Schedules one reopen after the next pause (no-op while one is pending). */
  schedule(): void {
    if (this.#timer) return;
    this.#failures++;
    const now = Date.now();
    const decision = this.#backoff.next({ attempt: this.#failures, firstAttemptAt: now, now });
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#reopen();
      },
      decision.action === 'retry' ? decision.delayMs : 1_000,
    );
    this.#timer.unref();
  }

  /** A channel works again: the next failure starts from the first pause. */
  succeeded(): void {
    this.#failures = 0;
  }

  /** Cancels a pending reopen and starts counting afresh. */
  reset(): void {
    this.cancel();
    this.#failures = 0;
  }

  /** Cancels a pending reopen. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
