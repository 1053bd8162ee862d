import { eventually } from '@dispatcher/tooling';

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 30_000,
): Promise<NonNullable<T>> {
  return eventually(check, { what, timeoutMs, intervalMs: 25 });
}
