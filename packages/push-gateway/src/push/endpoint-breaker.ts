/** Per-endpoint breaker seam: `allow(key)` before a push, `record(key, ok)` after. */
export interface EndpointBreaker {
  allow(key: string): boolean;
  record(key: string, ok: boolean): void;
}

/** Options of {@link consecutiveFailureBreaker}. */
export interface ConsecutiveFailureBreakerOptions {
  /** Consecutive failures that open the breaker. @defaultValue 5 */
  failureThreshold?: number;
  /** How long it stays open before one trial push, ms. @defaultValue 5000 */
  openMs?: number;
  /** Endpoints tracked at most (oldest forgotten). @defaultValue 10000 */
  maxEndpoints?: number;
}

/**
 * Opens after `failureThreshold` failures in a row, lets one trial through after `openMs`, closes on success.
 * Stand-in until `CircuitBreaker` from `@dispatcher/core/http` is available.
 */
export function consecutiveFailureBreaker(options: ConsecutiveFailureBreakerOptions = {}): EndpointBreaker {
  const threshold = options.failureThreshold ?? 5;
  const openMs = options.openMs ?? 5_000;
  const max = options.maxEndpoints ?? 10_000;
  const state = new Map<string, { failures: number; openUntil: number; trial: boolean }>();
  return {
    allow(key) {
      const s = state.get(key);
      if (!s || s.failures < threshold) return true;
      if (Date.now() < s.openUntil || s.trial) return false;
      s.trial = true;
      return true;
    },
    record(key, ok) {
      if (ok) {
        state.delete(key);
        return;
      }
      let s = state.get(key);
      if (!s) {
        if (state.size >= max) state.delete(state.keys().next().value as string);
        s = { failures: 0, openUntil: 0, trial: false };
        state.set(key, s);
      }
      s.failures += 1;
      s.trial = false;
      if (s.failures >= threshold) s.openUntil = Date.now() + openMs;
    },
  };
}
