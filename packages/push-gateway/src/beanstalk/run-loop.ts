import { delay, type Logger } from '@dispatcher/core';

/** Options of {@link runLoop}. */
export interface RunLoopOptions {
  signal: AbortSignal;
  log: Logger;
  /** What the loop does, for log lines. */
  what: string;
  /** Runs before the first step and again after any failure (e.g. `watch`). */
  setup: () => Promise<void>;
  /** One iteration. */
  step: () => Promise<void>;
  /** First back-off after a failure, ms; doubles up to `maxBackoffMs`. @defaultValue 100 */
  minBackoffMs?: number;
  /** @defaultValue 5000 */
  maxBackoffMs?: number;
}

/**
 * Repeats `step` until `signal` aborts. A failure (server down, timeout) backs off exponentially instead of
 * spinning, and the next round runs `setup` again.
 */
export async function runLoop(options: RunLoopOptions): Promise<void> {
  const { signal, log } = options;
  const min = options.minBackoffMs ?? 100;
  const max = options.maxBackoffMs ?? 5_000;
  let failures = 0;
  let needsSetup = true;
  while (!signal.aborted) {
    try {
      if (needsSetup) {
        await options.setup();
        needsSetup = false;
      }
      await options.step();
      failures = 0;
    } catch (err) {
      if (signal.aborted) break;
      failures += 1;
      needsSetup = true;
      const wait = Math.min(max, min * 2 ** Math.min(failures - 1, 16));
      if (failures === 1 || failures % 20 === 0)
        log.warn({ err, failures, retryInMs: wait }, `${options.what} failed`);
      await delay(wait, signal).catch(() => {});
    }
  }
}
