import type { RetryPolicy } from '@dispatcher/core';

/** Settings that apply to destinations matching `match`. */
export interface DestinationRule {
  /** `host`, `host:port`, `*.domain` or `*`, as in ALLOWED_DESTINATIONS. */
  match: string;
  /** Concurrent attempts to this destination. */
  concurrency?: number;
  /** Attempts per second (token bucket); unlimited when absent. */
  ratePerSec?: number;
  /** Burst of the rate limit. @defaultValue ratePerSec */
  burst?: number;
  /** Per-attempt timeout in ms (a request's X-Dispatcher-Timeout still wins). */
  timeoutMs?: number;
  /** Statuses to retry, replacing the default (408, 425, 429, 5xx). */
  retryStatuses?: number[];
  /** Consecutive failures that open the circuit breaker. */
  failureThreshold?: number;
  /** First pause of an open circuit, in ms (doubles while probes fail). */
  cooldownMs?: number;
}

export interface DeliveryOptions {
  /** Attempts in flight at once, over all destinations (the original's WORKER). */
  workers: number;
  /** Attempts in flight at once to one destination, unless a rule says otherwise. */
  perDestinationConcurrency: number;
  /** Per-attempt timeout in ms (the original's DEFAULT_TIMEOUT). */
  defaultTimeoutMs: number;
  /** Retries after the first attempt before dead-lettering (the original's RETRYLIMIT). */
  retryLimit: number;
  /** Builds the retry schedule for a request allowed `maxAttempts` attempts in all. */
  retryPolicy: (maxAttempts: number) => RetryPolicy;
  /** Standard Webhooks signing secret (`whsec_…`); deliveries are signed when set. */
  signingSecret?: string;
  destinations: DestinationRule[];
  /** Circuit breaker defaults. */
  failureThreshold: number;
  cooldownMs: number;
  maxCooldownMs: number;
  /** Bytes of recently accepted requests kept in memory to deliver without reading the log back. */
  hotCacheBytes: number;
  /** Per-destination states kept before idle ones are dropped (see `HttpProxyOptions.maxDestinations`). */
  maxDestinations: number;
}
