import {
  exponentialBackoff,
  type FsyncPolicy,
  type Logger,
  legacyDispatcherBackoff,
  MAX_TIMEOUT_MS,
  parseHostName,
  type RetryPolicy,
} from '@dispatcher/core';
import { signWebhook } from '@dispatcher/core/http';
import type { DestinationRule } from './delivery/delivery-options.js';
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
  /**
   * Worker threads that make the outbound HTTP calls, so the thread that owns the log spends its time on
   * ingest and bookkeeping; outcomes still come back to it, which records them. 0 = calls on the main
   * thread. Off by default: on a 2-core machine shared with the load and the receiver it gained about 10%
   * (within the noise) and cost CPU and 80–120 MB of RSS (see the README's bench notes). @defaultValue 0
   */
  deliveryThreads?: number;
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
  /**
   * Bearer token for the admin API; without one the admin API answers loopback clients only, and only
   * requests whose `Host` names it (see `adminHosts`).
   */
  adminToken?: string;
  /**
   * Host names the admin API is served under besides the loopback ones (`localhost`, `127.x.x.x`, `[::1]`):
   * `name` (any port) or `name:port`. Without a token, an admin request whose `Host` names none of them gets
   * 421, so a web page cannot reach the API through DNS rebinding; with or without one, a state-changing
   * admin request whose `Origin` names none of them gets 403. The ingest path takes any `Host`.
   * @defaultValue []
   */
  adminHosts?: readonly string[];
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
   * Most idempotency keys remembered at once (embedded store; the PostgreSQL store keeps every key for its
   * window). Past it the oldest key is forgotten before its window ends (a repeat of it is then accepted as
   * a new request). About 200 bytes of memory per key.
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
   * Bytes of the transaction log kept written with zeros (and synced) ahead of its records, so a group
   * commit's fdatasync has no file size to commit (see the core `DurableLog` option), e.g. 4 MiB. 0 = off.
   * @defaultValue 0
   */
  preallocateBytes?: number;
  /**
   * How the transaction log makes a group commit durable: `dsync` opens it with `O_DSYNC` (the write
   * returns once durable: one system call, one thread-pool round trip), `fdatasync` writes then syncs.
   * @defaultValue 'fdatasync'
   */
  syncMethod?: 'fdatasync' | 'dsync';
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
  /**
   * Time a client has to send a request's headers, in ms, counted from the start of the request (for a
   * connection's first request, from the connection); then it gets 408 and its connection is closed, so
   * clients that send slowly or not at all (slowloris) cannot hold connections. At most `requestTimeoutMs`.
   * Checked at least once a second. @defaultValue 10000
   */
  headersTimeoutMs?: number;
  /**
   * Time a client has to send a whole request, headers and body, in ms; then 408 and the connection is
   * closed. The time to answer it (storing the request) is not counted. @defaultValue 60000
   */
  requestTimeoutMs?: number;
  /** Graceful shutdown waits this long for attempts in flight. @defaultValue 10000 */
  shutdownTimeoutMs?: number;
  /** Durability of acceptance. @defaultValue `{ mode: 'batch', maxDelayMs: 2 }` */
  fsync?: FsyncPolicy;
  /** Bytes of recent request bodies kept in RAM to deliver without a disk read. @defaultValue 32 MiB */
  hotCacheBytes?: number;
  /**
   * Keep state in PostgreSQL instead of the embedded log (fleet mode: several instances share it).
   * Undefined = the embedded log in `dataDir`. @defaultValue undefined
   */
  postgres?: PostgresStoreOptions;
  logger?: Logger;
}

/** The PostgreSQL store (see the README, "Fleet mode"). Durations in ms. */
export interface PostgresStoreOptions {
  /** `postgres://user@host:port/database`. */
  connectionString: string;
  /** Names this instance in leases. @defaultValue `<hostname>-<pid>-<random>` */
  instanceId?: string;
  /** Most database connections of this instance. @defaultValue 10 */
  poolMax?: number;
  /** Wait for a connection before failing (ingest then answers 503). @defaultValue 2000 */
  connectTimeoutMs?: number;
  /** Server-side limit of one statement. @defaultValue 10000 */
  statementTimeoutMs?: number;
  /** How long a claimed request is held before another instance may take it (renewed while in flight). @defaultValue 30000 */
  leaseMs?: number;
  /** Delivered ids answer `/messages/{id}` this long, then are deleted in bulk. @defaultValue 86400000 */
  deliveredRetentionMs?: number;
  /** Look for due retries and expired leases at least this often. @defaultValue 250 */
  pollMs?: number;
  /** Apply schema migrations at start-up. @defaultValue true */
  migrate?: boolean;
}

export const HTTP_PROXY_DEFAULTS = {
  port: 80,
  workers: 10,
  deliveryThreads: 0,
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
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  hotCacheBytes: 32 * 1024 * 1024,
} as const;

/** An inclusive range of whole numbers, and why its upper end is where it is when that is not obvious. */
export interface IntRange {
  readonly min: number;
  readonly max: number;
  readonly why?: string;
}

const ANY = Number.MAX_SAFE_INTEGER;
const timer = (min: number): IntRange => ({
  min,
  max: MAX_TIMEOUT_MS,
  why: 'the longest timer Node.js keeps, about 24.8 days',
});

/**
 * The values `resolveProxyOptions` accepts for each whole-number option, both ends included. Numbers above
 * 2^53 - 1 (`Number.MAX_SAFE_INTEGER`) are never exact, so no option goes beyond that. A binary checks its
 * settings against the same table, so it names the same range.
 */
export const HTTP_PROXY_LIMITS = {
  port: { min: 0, max: 65_535 },
  workers: { min: 1, max: ANY },
  deliveryThreads: { min: 0, max: 64 },
  perDestinationConcurrency: { min: 1, max: ANY },
  defaultTimeoutMs: timer(1),
  retryLimit: { min: 0, max: ANY },
  retryBaseMs: { min: 1, max: ANY },
  retryMaxMs: { min: 1, max: ANY },
  maxBodyBytes: {
    min: 1,
    max: MAX_BODY_BYTES_LIMIT,
    why: "a request is one log record; the log's limit is 16 MiB with room for headers",
  },
  maxBacklog: { min: 1, max: ANY },
  minFreeDiskBytes: { min: 0, max: ANY },
  maxRssBytes: { min: 1, max: ANY },
  idempotencyWindowMs: { min: 1, max: ANY },
  failureThreshold: { min: 1, max: ANY },
  cooldownMs: { min: 1, max: HTTP_PROXY_DEFAULTS.maxCooldownMs, why: 'the longest pause of an open circuit' },
  shutdownTimeoutMs: timer(0),
  headersTimeoutMs: timer(1),
  requestTimeoutMs: timer(1),
  hotCacheBytes: { min: 0, max: ANY },
  maxIdempotencyKeys: { min: 1, max: ANY },
  maxDeadLetterIds: { min: 1, max: ANY },
  maxDeliveredIds: { min: 1, max: ANY },
  preallocateBytes: { min: 0, max: 1024 * 1024 * 1024, why: 'zeros written ahead, not a segment' },
  maxDestinations: { min: 1, max: ANY },
} as const satisfies Record<string, IntRange>;

function check(ok: boolean, option: string, message: string): void {
  if (!ok)
    throw new ProxyError('DSP_PROXY_INVALID_ARGUMENT', `${option}: ${message}`, { details: { option } });
}

/**
 * `value` when it is a whole number within the option's range; the error names the range and `name`
 * (the option itself, or where it sits, e.g. `destinations[2].cooldownMs`).
 */
function int(value: number, option: keyof typeof HTTP_PROXY_LIMITS, name: string = option): number {
  const range: IntRange = HTTP_PROXY_LIMITS[option];
  check(
    Number.isInteger(value) && value >= range.min && value <= range.max,
    name,
    `must be an integer from ${range.min} to ${range.max}${range.why ? ` (${range.why})` : ''}, got ${value}`,
  );
  return value;
}

function syncMethod(method: string): 'fdatasync' | 'dsync' {
  check(
    method === 'fdatasync' || method === 'dsync',
    'syncMethod',
    `must be 'fdatasync' or 'dsync', got ${method}`,
  );
  return method as 'fdatasync' | 'dsync';
}

/**
 * Per-destination rules, checked against the same ranges as the options they override, so a bad rule
 * fails construction instead of the first delivery to its destination.
 */
function destinationRules(rules: readonly DestinationRule[]): DestinationRule[] {
  rules.forEach((r, i) => {
    const at = `destinations[${i}]`;
    check(typeof r?.match === 'string' && r.match.length > 0, `${at}.match`, 'must be a non-empty pattern');
    if (r.concurrency !== undefined) int(r.concurrency, 'perDestinationConcurrency', `${at}.concurrency`);
    if (r.timeoutMs !== undefined) int(r.timeoutMs, 'defaultTimeoutMs', `${at}.timeoutMs`);
    if (r.failureThreshold !== undefined)
      int(r.failureThreshold, 'failureThreshold', `${at}.failureThreshold`);
    if (r.cooldownMs !== undefined) int(r.cooldownMs, 'cooldownMs', `${at}.cooldownMs`);
    if (r.ratePerSec !== undefined)
      check(
        Number.isFinite(r.ratePerSec) && r.ratePerSec > 0,
        `${at}.ratePerSec`,
        `must be a number above 0, got ${r.ratePerSec}`,
      );
    if (r.burst !== undefined)
      check(
        Number.isSafeInteger(r.burst) && r.burst >= 1,
        `${at}.burst`,
        `must be an integer from 1 to ${ANY}, got ${r.burst}`,
      );
    for (const status of r.retryStatuses ?? [])
      check(
        Number.isInteger(status) && status >= 100 && status <= 599,
        `${at}.retryStatuses`,
        `must be HTTP statuses from 100 to 599, got ${status}`,
      );
  });
  return [...rules];
}

function adminHosts(hosts: readonly string[]): readonly string[] {
  for (const host of hosts)
    check(
      typeof host === 'string' && parseHostName(host) !== undefined,
      'adminHosts',
      `expected name, name:port, [v6] or [v6]:port, got ${JSON.stringify(host)}`,
    );
  return hosts;
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
  const workers = int(o.workers ?? d.workers, 'workers');
  const retryBaseMs = int(o.retryBaseMs ?? d.retryBaseMs, 'retryBaseMs');
  const retryMaxMs = int(o.retryMaxMs ?? d.retryMaxMs, 'retryMaxMs');
  check(retryMaxMs >= retryBaseMs, 'retryMaxMs', 'must be >= retryBaseMs');
  const headersTimeoutMs = int(o.headersTimeoutMs ?? d.headersTimeoutMs, 'headersTimeoutMs');
  const requestTimeoutMs = int(o.requestTimeoutMs ?? d.requestTimeoutMs, 'requestTimeoutMs');
  check(requestTimeoutMs >= headersTimeoutMs, 'requestTimeoutMs', 'must be >= headersTimeoutMs');
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
    port: int(o.port ?? d.port, 'port'),
    allowedDestinations: o.allowedDestinations,
    adminToken: o.adminToken,
    adminHosts: adminHosts(o.adminHosts ?? []),
    maxBodyBytes: int(o.maxBodyBytes ?? d.maxBodyBytes, 'maxBodyBytes'),
    maxBacklog: int(o.maxBacklog ?? d.maxBacklog, 'maxBacklog'),
    minFreeDiskBytes: int(o.minFreeDiskBytes ?? d.minFreeDiskBytes, 'minFreeDiskBytes'),
    maxRssBytes: o.maxRssBytes === undefined ? undefined : int(o.maxRssBytes, 'maxRssBytes'),
    idempotencyWindowMs: int(o.idempotencyWindowMs ?? d.idempotencyWindowMs, 'idempotencyWindowMs'),
    maxIdempotencyKeys: int(o.maxIdempotencyKeys ?? d.maxIdempotencyKeys, 'maxIdempotencyKeys'),
    maxDeadLetterIds: int(o.maxDeadLetterIds ?? d.maxDeadLetterIds, 'maxDeadLetterIds'),
    maxDeliveredIds: int(o.maxDeliveredIds ?? d.maxDeliveredIds, 'maxDeliveredIds'),
    preallocateBytes: int(o.preallocateBytes ?? d.preallocateBytes, 'preallocateBytes'),
    syncMethod: syncMethod(o.syncMethod ?? d.syncMethod),
    shutdownTimeoutMs: int(o.shutdownTimeoutMs ?? d.shutdownTimeoutMs, 'shutdownTimeoutMs'),
    deliveryThreads: int(o.deliveryThreads ?? d.deliveryThreads, 'deliveryThreads'),
    headersTimeoutMs,
    requestTimeoutMs,
    fsync: o.fsync,
    postgres: o.postgres === undefined ? undefined : postgresOptions(o.postgres),
    logger: o.logger,
    delivery: {
      workers,
      perDestinationConcurrency: int(
        o.perDestinationConcurrency ?? Math.max(1, Math.ceil(workers / 2)),
        'perDestinationConcurrency',
      ),
      defaultTimeoutMs: int(o.defaultTimeoutMs ?? d.defaultTimeoutMs, 'defaultTimeoutMs'),
      retryLimit: int(o.retryLimit ?? d.retryLimit, 'retryLimit'),
      retryPolicy,
      ...(o.signingSecret === undefined ? {} : { signingSecret: signingSecret(o.signingSecret) }),
      destinations: destinationRules(o.destinations ?? []),
      failureThreshold: int(o.failureThreshold ?? d.failureThreshold, 'failureThreshold'),
      cooldownMs: int(o.cooldownMs ?? d.cooldownMs, 'cooldownMs'),
      maxCooldownMs: d.maxCooldownMs,
      hotCacheBytes: int(o.hotCacheBytes ?? d.hotCacheBytes, 'hotCacheBytes'),
      maxDestinations: int(o.maxDestinations ?? d.maxDestinations, 'maxDestinations'),
    },
  };
}

function postgresOptions(p: PostgresStoreOptions): PostgresStoreOptions {
  check(
    typeof p.connectionString === 'string' && /^postgres(ql)?:\/\//.test(p.connectionString),
    'postgres.connectionString',
    'must be a postgres:// URL',
  );
  for (const k of [
    'poolMax',
    'connectTimeoutMs',
    'statementTimeoutMs',
    'leaseMs',
    'deliveredRetentionMs',
    'pollMs',
  ] as const) {
    const v = p[k];
    if (v !== undefined)
      check(Number.isSafeInteger(v) && v > 0, `postgres.${k}`, 'must be a positive whole number');
  }
  return { ...p };
}
