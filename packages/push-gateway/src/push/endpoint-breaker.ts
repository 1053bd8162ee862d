import { CircuitBreaker, type CircuitBreakerOptions } from '@dispatcher/core/http';

/** Per-endpoint breaker: `allow(key)` before a push, `record(key, ok)` after. */
export interface EndpointBreaker {
  allow(key: string): boolean;
  record(key: string, ok: boolean): void;
}

/** Options of {@link endpointBreakers}. */
export interface EndpointBreakersOptions extends CircuitBreakerOptions {
  /** Endpoints tracked at most; the least recently used is forgotten. @defaultValue 10000 */
  maxEndpoints?: number;
}

/** One core `CircuitBreaker` per endpoint (origin), created on first use. */
export function endpointBreakers(options: EndpointBreakersOptions = {}): EndpointBreaker {
  const { maxEndpoints = 10_000, ...breakerOptions } = options;
  const breakers = new Map<string, CircuitBreaker>();
  const get = (key: string): CircuitBreaker => {
    let b = breakers.get(key);
    if (b) {
      // Re-insert: Map order is the LRU order.
      breakers.delete(key);
    } else {
      if (breakers.size >= maxEndpoints) breakers.delete(breakers.keys().next().value as string);
      b = new CircuitBreaker(breakerOptions);
    }
    breakers.set(key, b);
    return b;
  };
  return {
    allow: (key) => get(key).canAttempt(),
    record: (key, ok) => (ok ? get(key).onSuccess() : get(key).onFailure()),
  };
}
