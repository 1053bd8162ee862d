import { CircuitBreaker, TokenBucket } from '@dispatcher/core/http';
import type { DeliveryOptions, DestinationRule } from './delivery-options.js';
import { SeqQueue } from './seq-queue.js';

/** Everything the scheduler keeps per destination origin. */
export class DestinationState {
  readonly queue = new SeqQueue();
  inflight = 0;
  /** Entries of this destination in the engine's due-time heap (scheduled requests and retries). */
  scheduled = 0;
  readonly concurrency: number;
  readonly breaker: CircuitBreaker;
  readonly bucket: TokenBucket | undefined;
  readonly rule: DestinationRule | undefined;
  /** Latency histogram children for this destination (set by the engine on first use). */
  timers: { delivered: { observe(v: number): void }; failed: { observe(v: number): void } } | undefined;

  constructor(
    readonly index: number,
    /** `scheme://host:port` */
    readonly key: string,
    options: DeliveryOptions,
    clock: () => number,
  ) {
    const url = new URL(key);
    this.host = url.host;
    this.rule = options.destinations.find((r) => ruleMatches(r.match, url));
    this.concurrency = this.rule?.concurrency ?? options.perDestinationConcurrency;
    this.breaker = new CircuitBreaker({
      failureThreshold: this.rule?.failureThreshold ?? options.failureThreshold,
      cooldownMs: this.rule?.cooldownMs ?? options.cooldownMs,
      maxCooldownMs: options.maxCooldownMs,
      clock,
    });
    const rate = this.rule?.ratePerSec;
    this.#burst = Math.max(1, this.rule?.burst ?? rate ?? 1);
    this.bucket =
      rate !== undefined && rate > 0
        ? new TokenBucket({ ratePerSec: rate, burst: this.#burst, clock })
        : undefined;
  }

  readonly #burst: number;

  /**
   * True when dropping this state and making it afresh later changes nothing that matters: no request
   * queued, scheduled or in flight, the circuit breaker closed (its count of failures below the threshold
   * is lost), the rate limiter full again.
   */
  get idle(): boolean {
    return (
      this.queue.size === 0 &&
      this.inflight === 0 &&
      this.scheduled === 0 &&
      this.breaker.state === 'closed' &&
      (this.bucket === undefined || this.bucket.available() >= this.#burst)
    );
  }

  /** Host label for metrics and filters. */
  readonly host: string;
}

/** `*`, `host`, `host:port` or `*.domain` against a URL. */
export function ruleMatches(pattern: string, url: URL): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, '');
  if (p === '*') return true;
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (p.startsWith('*.')) return host.endsWith(p.slice(1));
  const colon = p.lastIndexOf(':');
  if (colon > 0 && !p.includes('::') && /^\d+$/.test(p.slice(colon + 1))) {
    return host === p.slice(0, colon).replace(/^\[|\]$/g, '') && port === p.slice(colon + 1);
  }
  return host === p.replace(/^\[|\]$/g, '');
}
