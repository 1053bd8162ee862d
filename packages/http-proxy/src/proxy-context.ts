import type { DestinationPolicy } from '@dispatcher/core/http';
import type { AdminStore } from './admin/admin-store.js';
import type { DeliveryEngine } from './delivery/delivery-engine.js';
import type { ProxyMetrics } from './proxy-metrics.js';
import type { ResolvedProxyOptions } from './proxy-options.js';
import type { PgStore } from './store/pg/pg-store.js';
import type { ProxyStore } from './store/proxy-store.js';
import type { StoredRequest } from './store/stored-request.js';

/** What the ingest and admin routes share with the proxy. */
export interface ProxyContext {
  readonly opts: ResolvedProxyOptions;
  readonly store: ProxyStore;
  readonly engine: DeliveryEngine;
  readonly metrics: ProxyMetrics;
  readonly policy: DestinationPolicy;
  /** The PostgreSQL store in fleet mode (then `store` is not there). */
  readonly pg: PgStore | undefined;
  /** The admin API's view of whichever store is in use. */
  readonly admin: AdminStore;
  /**
   * Makes a request durable and schedules it; resolves with its id (`replay`: the idempotency key was
   * already stored, by any instance, and nothing new was).
   */
  enqueue(
    build: (id: string) => StoredRequest,
    now: number,
    idempotencyKey?: string,
  ): Promise<{ id: string; replay: boolean }>;
  /** Why new requests are refused right now (admission control), or undefined when they are welcome. */
  overloaded(): string | undefined;
  /** Why the store cannot write right now (disk full, I/O error), or undefined when it can. */
  storageUnavailable(): string | undefined;
  readonly closing: boolean;
}
