import {
  exponentialBackoff,
  type FsyncPolicy,
  type Logger,
  legacyDispatcherBackoff,
  type RetryPolicy,
} from '@dispatcher/core';
import type { DestinationRule } from './delivery/delivery-options.js';
import { signWebhook } from './delivery/webhook-signature.js';
import { ProxyError } from './errors.js';
import { PROXY_STORE_DEFAULTS } from './store/proxy-store.js';

/**
 * Largest `maxBodyBytes`: a request is one log record (core's limit is 16 MiB), and its headers, target
 * and bookkeeping need room beside the body, so a body that passes the 413 check can always be stored.
 */
export const MAX_BODY_BYTES_LIMIT = 15 * 1024 * 1024;

/** Options of `HttpProxy`. Durations in ms, sizes in bytes. */
export interface HttpProxyOptions {
  /** Directory of the transaction log (the original's TRANSACTION_LOG). */
  dataDir: string;
  /** Directory of the dead-letter store (the original's DEAD_LETTER). @defaultValue `<dataDir>/dead-letter` */
  deadLetterDir?: string;
  /** Keep the full history; state is rebuilt from it (the original's EVENT_SOURCING). @defaultValue false */
  eventSourcing?: boolean;
  /** Interface to listen on; undefined = all. @defaultValue undefined */
  host?: string;
  /** Port to listen on; 0 picks a free one. @defaultValue 80 */
  port?: number;
  /** Attempts in flight at once, over all destinations (the original's WORKER). @defaultValue 10 */
  workers?: number;
  /** Attempts in flight to one destination. @defaultValue max(1, ceil(workers / 2)) */
  perDestinationConcurrency?: number;
  /** Per-attempt timeout (the original's DEFAULT_TIMEOUT). @defaultValue 10000 */
  defaultTimeoutMs?: number;
  /** Retries after the first attempt before dead-lettering (the original's RETRYLIMIT). @defaultValue 10 */
  retryLimit?: number;
  /** `exponential` (full jitter) or `legacy` (the original's 2^n seconds). @defaultValue 'exponential' */
  retryBackoff?: 'exponential' | 'legacy';
  /** First retry delay of the exponential schedule. @defaultValue 1000 */
  retryBaseMs?: number;
  /** Longest retry delay. @defaultValue 300000 */
  retryMaxMs?: number;
  /**
   * Destinations that may be called (`host`, `host:port`, `*.domain`, CIDR, `*`). Undefined: any public
   * address; loopback, private and link-local addresses are refused.
   */
  allowedDestinations?: readonly string[];
  /** Bearer token for the admin API; without one the admin API answers loopback clients only. */
  adminToken?: string;
  /** Largest request body accepted (413 above). @defaultValue 10 MiB */
  maxBodyBytes?: number;
  /** New requests get 503 once this many are waiting. @defaultValue 5,000,000 */
  maxBacklog?: number;
  /** New requests get 503 when the data directory's file system has less free space. @defaultValue 256 MiB */
  minFreeDiskBytes?: number;
  /** New requests get 503 above this resident set size; undefined = no limit. @defaultValue undefined */
  maxRssBytes?: number;
  /** How long an idempotency key maps to its first message. @defaultValue 24 h */
  idempotencyWindowMs?: number;
  /**
   * Most idempotency keys remembered at once. Past it the oldest key is forgotten before its window ends
   * (a repeat of it is then accepted as a new request). About 200 bytes of memory per key.
   * @defaultValue 1,000,000
   */
  maxIdempotencyKeys?: number;
  /**
   * Most dead-letter ids indexed in memory, newest kept. Looking up an older letter by id
   * (`/messages/{id}`, `/dead-letters/{id}`, a redrive by ids) scans the dead-letter log instead: slower,
   * same answer. About 150 bytes of memory per id.
   * @defaultValue 1,000,000
   */
  maxDeadLetterIds?: number;
  /**
   * Most delivered message ids for which `/messages/{id}` answers `delivered`, newest kept, across restarts
   * (they are kept in `<dataDir>/delivery-journal`); older ones answer 404. About 200 bytes of memory and
   * 100 bytes of disk per id.
   * @defaultValue 100,000
   */
  maxDeliveredIds?: number;
  /**
   * Most per-destination states (queue, concurrency count, circuit breaker, rate limiter) kept: past it,
   * the least recently used idle destination's state is dropped, and made afresh if the destination comes
   * back. A state in use is never dropped: requests queued, scheduled or in flight, a circuit breaker that
   * is open or half-open, a rate limiter still refilling. (A closed breaker's count of failures below the
   * threshold goes with a dropped state.) So the cap can be passed while
   * more destinations than that are in use. About 1 KiB of memory per destination.
   * @defaultValue 10,000
   */
  maxDestinations?: number;
  /** Standard Webhooks secret; deliveries are signed when set. */
  signingSecret?: string;
  /** Per-destination concurrency, rate limit, timeout and retry statuses. @defaultValue [] */
  destinations?: DestinationRule[];
  /** Consecutive failures that open a destination's circuit breaker. @defaultValue 5 */
  failureThreshold?: number;
  /** First pause of an open circuit. @defaultValue 5000 */
  cooldownMs?: number;
  /** Graceful shutdown waits this long for attempts in flight. @defaultValue 10000 */
  shutdownTimeoutMs?: number;
  /** Durability of acceptance. @defaultValue `{ mode: 'batch', maxDelayMs: 2 }` */
  fsync?: FsyncPolicy;
  /** Bytes of recent request bodies kept in RAM to deliver without a disk read. @defaultValue 32 MiB */
  hotCacheBytes?: number;
  logger?: Logger;
}

export const HTTP_PROXY_DEFAULTS = {
  port: 80,
  workers: 10,
  defaultTimeoutMs: 10_000,
  retryLimit: 10,
  retryBackoff: 'exponential',
  retryBaseMs: 1_000,
  retryMaxMs: 300_000,
  maxBodyBytes: 10 * 1024 * 1024,
  maxBacklog: 5_000_000,
  minFreeDiskBytes: 256 * 1024 * 1024,
  idempotencyWindowMs: 24 * 60 * 60 * 1000,
  ...PROXY_STORE_DEFAULTS,
  maxDestinations: 10_000,
  failureThreshold: 5,
  cooldownMs: 5_000,
  maxCooldownMs: 300_000,
  shutdownTimeoutMs: 10_000,
  hotCacheBytes: 32 * 1024 * 1024,
} as const;

function check(ok: boolean, option: string, message: string): void {
  if (!ok)
    throw new ProxyError('DSP_PROXY_INVALID_ARGUMENT', `${option}: ${message}`, { details: { option } });
}

function positiveInt(value: number, option: string, allowZero = false): number {
  check(
    Number.isSafeInteger(value) && (allowZero ? value >= 0 : value > 0),
    option,
    `must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${value}`,
  );
  return value;
}

function atMost(value: number, max: number, option: string, why: string): number {
  check(value <= max, option, `must be at most ${max} (${why}), got ${value}`);
  return value;
}

/** A malformed secret fails start-up, not every delivery. */
function signingSecret(secret: string): string {
  try {
    signWebhook(secret, 'check', 0, new Uint8Array(0));
  } catch (err) {
    check(false, 'signingSecret', (err as Error).message);
  }
  return secret;
}

export type ResolvedProxyOptions = ReturnType<typeof resolveProxyOptions>;

/**
 * Checks options and fills in defaults, as `new HttpProxy()` does, without starting anything: for a
 * binary that wants to report bad settings before it opens files.
 * @throws ProxyError `DSP_PROXY_INVALID_ARGUMENT` with `details.option`, the option's name
 */
export function resolveProxyOptions(o: HttpProxyOptions) {
  const d = HTTP_PROXY_DEFAULTS;
  check(typeof o.dataDir === 'string' && o.dataDir.length > 0, 'dataDir', 'must be a non-empty path');
  const workers = positiveInt(o.workers ?? d.workers, 'workers');
  const retryBaseMs = positiveInt(o.retryBaseMs ?? d.retryBaseMs, 'retryBaseMs');
  const retryMaxMs = positiveInt(o.retryMaxMs ?? d.retryMaxMs, 'retryMaxMs');
  check(retryMaxMs >= retryBaseMs, 'retryMaxMs', 'must be >= retryBaseMs');
  const backoff = o.retryBackoff ?? d.retryBackoff;
  check(
    backoff === 'exponential' || backoff === 'legacy',
    'retryBackoff',
    "must be 'exponential' or 'legacy'",
  );
  const retryPolicy = (maxAttempts: number): RetryPolicy =>
    backoff === 'legacy'
      ? legacyDispatcherBackoff({ maxAttempts })
      : exponentialBackoff({ baseMs: retryBaseMs, capMs: retryMaxMs, jitter: 'full', maxAttempts });
  return {
    dataDir: o.dataDir,
    deadLetterDir: o.deadLetterDir,
    eventSourcing: o.eventSourcing ?? false,
    host: o.host,
    port: positiveInt(o.port ?? d.port, 'port', true),
    allowedDestinations: o.allowedDestinations,
    adminToken: o.adminToken,
    maxBodyBytes: atMost(
      positiveInt(o.maxBodyBytes ?? d.maxBodyBytes, 'maxBodyBytes'),
      MAX_BODY_BYTES_LIMIT,
      'maxBodyBytes',
      "a request is one log record; the log's limit is 16 MiB with room for headers",
    ),
    maxBacklog: positiveInt(o.maxBacklog ?? d.maxBacklog, 'maxBacklog'),
    minFreeDiskBytes: positiveInt(o.minFreeDiskBytes ?? d.minFreeDiskBytes, 'minFreeDiskBytes', true),
    maxRssBytes: o.maxRssBytes === undefined ? undefined : positiveInt(o.maxRssBytes, 'maxRssBytes'),
    idempotencyWindowMs: positiveInt(o.idempotencyWindowMs ?? d.idempotencyWindowMs, 'idempotencyWindowMs'),
    maxIdempotencyKeys: positiveInt(o.maxIdempotencyKeys ?? d.maxIdempotencyKeys, 'maxIdempotencyKeys'),
    maxDeadLetterIds: positiveInt(o.maxDeadLetterIds ?? d.maxDeadLetterIds, 'maxDeadLetterIds'),
    maxDeliveredIds: positiveInt(o.maxDeliveredIds ?? d.maxDeliveredIds, 'maxDeliveredIds'),
    shutdownTimeoutMs: positiveInt(o.shutdownTimeoutMs ?? d.shutdownTimeoutMs, 'shutdownTimeoutMs', true),
    fsync: o.fsync,
    logger: o.logger,
    delivery: {
      workers,
      perDestinationConcurrency: positiveInt(
        o.perDestinationConcurrency ?? Math.max(1, Math.ceil(workers / 2)),
        'perDestinationConcurrency',
      ),
      defaultTimeoutMs: positiveInt(o.defaultTimeoutMs ?? d.defaultTimeoutMs, 'defaultTimeoutMs'),
      retryLimit: positiveInt(o.retryLimit ?? d.retryLimit, 'retryLimit', true),
      retryPolicy,
      ...(o.signingSecret === undefined ? {} : { signingSecret: signingSecret(o.signingSecret) }),
      destinations: o.destinations ?? [],
      failureThreshold: positiveInt(o.failureThreshold ?? d.failureThreshold, 'failureThreshold'),
      cooldownMs: positiveInt(o.cooldownMs ?? d.cooldownMs, 'cooldownMs'),
      maxCooldownMs: d.maxCooldownMs,
      hotCacheBytes: positiveInt(o.hotCacheBytes ?? d.hotCacheBytes, 'hotCacheBytes', true),
      maxDestinations: positiveInt(o.maxDestinations ?? d.maxDestinations, 'maxDestinations'),
    },
  };
}
