import { setTimeout as delay } from 'node:timers/promises';

/** Options of {@link eventually}. */
export interface EventuallyOptions {
  /** Deadline, in milliseconds. @defaultValue 10000 */
  readonly timeoutMs?: number;
  /** Pause between checks, in milliseconds. @defaultValue 10 */
  readonly intervalMs?: number;
  /** Named in the error at the deadline. @defaultValue 'condition' */
  readonly what?: string;
}

/**
 * Polls `check` until it answers a truthy value and resolves with it — a wait for a condition, never for a
 * fixed time, so a loaded machine only makes it slower. Rejects naming `what` at the deadline; a check that
 * throws counts as not yet, and its last error becomes the cause.
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  options: EventuallyOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${options.what ?? 'condition'}`, { cause: last });
    }
    await delay(options.intervalMs ?? 10);
  }
}
