import type { DestinationPolicy } from '@dispatcher/core/http';
import type { DeliveryEngine } from './delivery/delivery-engine.js';
import type { ProxyMetrics } from './proxy-metrics.js';
import type { ResolvedProxyOptions } from './proxy-options.js';
import type { ProxyStore } from './store/proxy-store.js';
import type { StoredRequest } from './stored-request.js';

/** What the ingest and admin routes share with the proxy. */
export interface ProxyContext {
  readonly opts: ResolvedProxyOptions;
  readonly store: ProxyStore;
  readonly engine: DeliveryEngine;
  readonly metrics: ProxyMetrics;
  readonly policy: DestinationPolicy;
  /** Makes a request durable and schedules it; resolves with its id. */
  enqueue(build: (id: string) => StoredRequest, now: number, idempotencyKey?: string): Promise<string>;
  /** Why new requests are refused right now (admission control), or undefined when they are welcome. */
  overloaded(): string | undefined;
  /** Why the store cannot write right now (disk full, I/O error), or undefined when it can. */
  storageUnavailable(): string | undefined;
  readonly closing: boolean;
}
