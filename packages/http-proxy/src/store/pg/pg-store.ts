/**
 * The proxy's state in PostgreSQL, shared by a fleet of instances.
 *
 * - Accept: requests arriving together are written by one multi-row INSERT (group commit); the caller's 202
 *   waits for its commit. Idempotency keys are a primary key, so the same key sent to two instances stores
 *   one request.
 * - Claim: an instance takes due requests in batches (`FOR UPDATE SKIP LOCKED`) and leases them (owner +
 *   expiry). Claims are serialised fleet-wide by a transaction advisory lock, which makes the limits exact:
 *   unexpired leases per destination are its attempts in flight (concurrency limit), a token bucket row per
 *   destination is its rate limit, and the same row carries the circuit breaker. A dead instance's leases
 *   run out and its requests are claimed again (at-least-once).
 * - Finish: a delivered request's row is deleted and a small row kept for status look-ups (removed in bulk
 *   after `deliveredRetentionMs`); a failed attempt sets the next due time and drops the lease; a dead
 *   letter moves the row in one statement.
 */
import type { Logger } from '@dispatcher/core';
import pg from 'pg';
import { ProxyError } from '../../errors.js';
import { proxyMessageId } from '../../proxy-message-id.js';
import type { AttemptState, DeadLetterInfo } from '../record-types.js';
import { decodeStoredRequest, encodeStoredRequest, type StoredRequest } from '../stored-request.js';
import { inTransaction, onConnection } from './check-out.js';
import { type DestinationLimits, planClaim } from './claim-plan.js';
import { claimReadSql, claimWriteSql, type DueRow, INTERRUPTED, type LeasedRow } from './claim-sql.js';
import { migrate, SCHEMA_VERSION } from './pg-migrations.js';

export interface PgStoreOptions {
  /** `postgres://user@host:port/db`. */
  connectionString: string;
  /** Names this instance in leases (unique per process). */
  instanceId: string;
  logger: Logger;
  /** Most connections in the pool. @defaultValue 10 */
  poolMax?: number;
  /** How long a query waits for a free connection before it fails (→ 503). @defaultValue 2000 */
  connectTimeoutMs?: number;
  /** Server-side limit of one statement. @defaultValue 10000 */
  statementTimeoutMs?: number;
  /** How long a claim holds a request before other instances may take it; renewed while in flight. @defaultValue 30000 */
  leaseMs?: number;
  /** Delivered ids kept for `/messages/{id}` look-ups, deleted in bulk after this. @defaultValue 24 h */
  deliveredRetentionMs?: number;
  /** Apply migrations at start-up (otherwise `migrate` must have run). @defaultValue true */
  migrate?: boolean;
}

/** Defaults of {@link PgStoreOptions}. */
export const PG_STORE_DEFAULTS = {
  poolMax: 10,
  connectTimeoutMs: 2_000,
  statementTimeoutMs: 10_000,
  leaseMs: 30_000,
  deliveredRetentionMs: 24 * 3600_000,
  migrate: true,
} as const;

export type { DestinationLimits };

export interface ClaimedRequest {
  rowId: string;
  request: StoredRequest;
  attempt: AttemptState | undefined;
  /** The destination's breaker lets this one through as its probe. */
  probe: boolean;
  /** How many times the destination's breaker had opened when this was claimed (see `BreakerTicket`). */
  opens: number;
}

/**
 * What a claim knew of its destination's breaker. A success closes the fleet's breaker only when it is
 * the probe's, or when the breaker has not opened since the claim: a success of an attempt that started
 * before the breaker opened says nothing about the destination now.
 */
export interface BreakerTicket {
  opens: number;
  probe: boolean;
}

export interface PgDeadLetter {
  id: string;
  info: DeadLetterInfo;
  request: StoredRequest;
}

/** What `/_dispatcher/health` shows of the fleet's store (counts are fleet-wide unless named otherwise). */
export interface PgStoreStats {
  /** Requests stored and not yet delivered or dead-lettered. */
  pending: number;
  /** Of those, held by some instance (an attempt under way or about to be). */
  leased: number;
  /** Of those, held by this instance. */
  leasedHere: number;
  /** Due now and held by nobody: waiting for an instance, or for a destination's limits. */
  due: number;
  /** Age of the oldest pending request in ms (0 when none): how far behind the fleet is. */
  oldestPendingMs: number;
  deadLetters: number;
  /** Destinations whose circuit breaker is open (or probing) fleet-wide. */
  openBreakers: number;
  /** This instance's connection pool. */
  pool: PgPoolStats;
}

/** This instance's connection pool. */
export interface PgPoolStats {
  max: number;
  /** Connections open. */
  total: number;
  /** Open and not in use. */
  idle: number;
  /** Queries waiting for a connection (above 0 for long: the pool is too small or the database slow). */
  waiting: number;
}

interface PendingAccept {
  messageId: string;
  request: StoredRequest;
  payload: Buffer;
  /** Epoch ms. */
  dueAt: number;
  key: string | undefined;
  expiresAt: Date | undefined;
  resolve: (r: { id: string; request: StoredRequest; replay: boolean }) => void;
  reject: (err: unknown) => void;
}

const NOTIFY_CHANNEL = 'dsp_request_ready';
/** Payload bytes of one group-committed insert, about (a request over it goes alone). */
const BATCH_BYTES = 32 * 1024 * 1024;
/** Health probes within this many ms of each other share one stats query. */
const STATS_TTL_MS = 1_000;
/** How many due rows a claim looks at for each one it may take (skips rows of saturated destinations). */
const CLAIM_WINDOW_FACTOR = 8;

export class PgStore {
  readonly pool: pg.Pool;
  readonly #opts: Required<Omit<PgStoreOptions, 'logger'>>;
  readonly #log: Logger;
  #queue: PendingAccept[] = [];
  #flushing = false;
  /** Completions waiting for the next batch (see `complete`). */
  #completions: Array<{
    rowId: string;
    messageId: string;
    info: string;
    origin: string;
    ticket: BreakerTicket;
    resolve: () => void;
    reject: (err: unknown) => void;
  }> = [];
  #completing = false;
  /** Row ids of completions not committed yet (queued or being written). */
  readonly #finishing = new Set<string>();
  #listener: pg.Client | undefined;
  #onWork: (() => void) | undefined;
  #closed = false;
  /** The last failure to reach the database, cleared by the next success. */
  #unavailable: Error | undefined;
  /** Statements under way (close() lets them finish before it hands leases back). */
  #running = 0;
  #idle: Array<() => void> = [];
  #stats: { at: number; result: Promise<PgStoreStats> } | undefined;
  /** Attempt numbers of requests this instance is attempting now (row id → attempt), for close(). */
  readonly #started = new Map<string, number>();

  private constructor(options: PgStoreOptions) {
    this.#opts = { ...PG_STORE_DEFAULTS, ...options } as Required<Omit<PgStoreOptions, 'logger'>>;
    this.#log = options.logger.child({ component: 'pg-store' });
    this.pool = new pg.Pool({
      connectionString: this.#opts.connectionString,
      max: this.#opts.poolMax,
      connectionTimeoutMillis: this.#opts.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      statement_timeout: this.#opts.statementTimeoutMs,
      application_name: `http-dispatcher ${this.#opts.instanceId}`,
    });
    // An idle client that loses its server emits here; the pool drops it and makes a new one when needed.
    this.pool.on('error', (err) => this.#log.warn({ err }, 'idle database connection lost'));
  }

  static async open(options: PgStoreOptions): Promise<PgStore> {
    const store = new PgStore(options);
    try {
      if (store.#opts.migrate) await migrate(store.pool, store.#log);
      else await store.#checkSchema();
      return store;
    } catch (err) {
      await store.pool.end().catch(() => {});
      throw err;
    }
  }

  async #checkSchema(): Promise<void> {
    const { rows } = await this.pool.query<{ v: number | null }>(
      'SELECT max(version) AS v FROM dsp_schema_version',
    );
    const v = rows[0]?.v ?? 0;
    if (v > SCHEMA_VERSION)
      throw new ProxyError(
        'DSP_PROXY_SCHEMA_TOO_NEW',
        `database schema ${v} is newer than ${SCHEMA_VERSION}`,
      );
  }

  /** Why the store cannot be used right now, or undefined. */
  get unavailable(): Error | undefined {
    return this.#unavailable;
  }

  /** Runs `fn` and keeps track of whether the database answers; connection failures become 503s. */
  async #db<T>(fn: () => Promise<T>): Promise<T> {
    this.#running++;
    try {
      const r = await fn();
      this.#unavailable = undefined;
      return r;
    } catch (err) {
      if (isConnectionError(err)) {
        this.#unavailable = err as Error;
        throw new ProxyError(
          'DSP_PROXY_STORE_UNAVAILABLE',
          `database unavailable: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      throw err;
    } finally {
      if (--this.#running === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /** Checks the database answers (readiness). */
  async ping(): Promise<void> {
    await this.#db(() => this.pool.query('SELECT 1'));
  }

  /**
   * Calls `onWork` when any instance stores a request (LISTEN/NOTIFY), so idle instances claim at once.
   * The listening connection is re-made after it drops.
   */
  listen(onWork: () => void): void {
    this.#onWork = onWork;
    void this.#connectListener();
  }

  async #connectListener(): Promise<void> {
    if (this.#closed || !this.#onWork) return;
    const client = new pg.Client({
      connectionString: this.#opts.connectionString,
      connectionTimeoutMillis: this.#opts.connectTimeoutMs,
    });
    const retry = () => {
      if (this.#listener === client) this.#listener = undefined;
      client.end().catch(() => {});
      if (!this.#closed) setTimeout(() => void this.#connectListener(), 1_000).unref();
    };
    client.on('error', (err) => {
      this.#log.warn({ err }, 'LISTEN connection lost; reconnecting');
      retry();
    });
    client.on('notification', () => this.#onWork?.());
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      this.#listener = client;
      // Work may have arrived while we were not listening.
      this.#onWork();
    } catch (err) {
      this.#log.warn({ err }, 'cannot LISTEN; retrying');
      retry();
    }
  }

  /**
   * Stores a request durably (its transaction committed) and resolves with its id; requests arriving while
   * a write is under way go together in the next one. With an idempotency key already stored (by any
   * instance) and unexpired, nothing is stored and the first id comes back with `replay`.
   */
  accept(
    build: (id: string) => StoredRequest,
    now: number,
    idempotency?: { key: string; windowMs: number },
  ): Promise<{ id: string; request: StoredRequest; replay: boolean }> {
    if (this.#closed) return Promise.reject(new ProxyError('DSP_PROXY_CLOSED', 'the store is closed'));
    // The id's last 40 bits are random here (the embedded log puts its sequence number there).
    const request = build(proxyMessageId(Math.floor(Math.random() * 2 ** 40), now));
    return new Promise((resolve, reject) => {
      this.#queue.push({
        messageId: request.message.id,
        request,
        payload: encodeStoredRequest(request),
        dueAt: request.message.notBefore ?? now,
        key: idempotency?.key,
        expiresAt: idempotency ? new Date(now + idempotency.windowMs) : undefined,
        resolve,
        reject,
      });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        // At most 1,000 requests and about BATCH_BYTES of payload (one parameter holds them all).
        let n = 0;
        for (let bytes = 0; n < this.#queue.length && n < 1000 && bytes < BATCH_BYTES; n++)
          bytes += (this.#queue[n] as PendingAccept).payload.length;
        const batch = this.#queue.splice(0, n);
        try {
          await this.#db(() => this.#insert(batch));
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #insert(batch: PendingAccept[]): Promise<void> {
    const keyed = batch.filter((p) => p.key !== undefined);
    if (keyed.length === 0) {
      // One statement, one round trip: the NOTIFY is sent when it commits.
      await this.pool.query(
        `WITH ins AS (
           INSERT INTO dsp_request (message_id, origin, payload, due_at) ${ROWS_FROM_COLUMNS}
           RETURNING 1)
         SELECT pg_notify('${NOTIFY_CHANNEL}', '') FROM (SELECT count(*) FROM ins) c`,
        columns(batch),
      );
      for (const p of batch) p.resolve({ id: p.messageId, request: p.request, replay: false });
      return;
    }
    const { firstByKey, won, existing } = await inTransaction(this.pool, async (client) => {
      // First claim of each key in this batch; later ones in the batch replay it.
      const firstByKey = new Map<string, PendingAccept>();
      for (const p of keyed) if (!firstByKey.has(p.key as string)) firstByKey.set(p.key as string, p);
      const firsts = [...firstByKey.values()];
      // Inserted keys come back; a live key of another request does not (it waits for that one's commit).
      const ins = await client.query<{ key: string }>(
        `INSERT INTO dsp_idempotency (key, message_id, expires_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
         ON CONFLICT (key) DO UPDATE SET message_id = EXCLUDED.message_id, expires_at = EXCLUDED.expires_at
           WHERE dsp_idempotency.expires_at <= now()
         RETURNING key`,
        [firsts.map((p) => p.key), firsts.map((p) => p.messageId), firsts.map((p) => p.expiresAt)],
      );
      const won = new Set(ins.rows.map((r) => r.key));
      const lost = firsts.filter((p) => !won.has(p.key as string)).map((p) => p.key as string);
      const existing = new Map<string, string>();
      if (lost.length > 0) {
        const r = await client.query<{ key: string; message_id: string }>(
          'SELECT key, message_id FROM dsp_idempotency WHERE key = ANY($1::text[])',
          [lost],
        );
        for (const row of r.rows) existing.set(row.key, row.message_id);
      }
      const store = batch.filter(
        (p) => p.key === undefined || (firstByKey.get(p.key) === p && won.has(p.key)),
      );
      if (store.length > 0) {
        await client.query(
          `INSERT INTO dsp_request (message_id, origin, payload, due_at) ${ROWS_FROM_COLUMNS}`,
          columns(store),
        );
        await client.query(`SELECT pg_notify('${NOTIFY_CHANNEL}', '')`);
      }
      return { firstByKey, won, existing };
    });
    for (const p of batch) {
      if (p.key === undefined) p.resolve({ id: p.messageId, request: p.request, replay: false });
      else {
        const first = firstByKey.get(p.key) as PendingAccept;
        const id = won.has(p.key) ? first.messageId : existing.get(p.key);
        if (id === undefined) p.reject(new Error('idempotency key vanished during accept'));
        else p.resolve({ id, request: first.request, replay: p !== first || !won.has(p.key) });
      }
    }
  }

  /** The id first stored with `key`, while its window lasts (any instance). */
  async idempotentId(key: string): Promise<string | undefined> {
    const r = await this.#db(() =>
      this.pool.query<{ message_id: string }>(
        'SELECT message_id FROM dsp_idempotency WHERE key = $1 AND expires_at > now()',
        [key],
      ),
    );
    return r.rows[0]?.message_id;
  }

  /**
   * Leases up to `max` due requests for this instance within each destination's fleet-wide limits.
   * `limitsFor` gives the limits of an origin.
   *
   * Two round trips under the fleet's claim lock (see `claim-sql.ts`): the lock with the read of due
   * requests and their destinations' figures; the leases with the destination rows and COMMIT (or COMMIT
   * alone when nothing is taken). Only the rows taken are locked (`FOR UPDATE SKIP LOCKED`), not the whole
   * window looked at.
   */
  async claim(max: number, limitsFor: (origin: string) => DestinationLimits): Promise<ClaimedRequest[]> {
    if (max <= 0 || this.#closed) return [];
    // Attempts of ours that are over while their completion is not committed yet: their leases are still
    // in the table, but their requests are no longer at the destination, so they are not in flight.
    const finished = [...this.#finishing];
    return this.#db(async () => {
      const { rows, plan, due } = await onConnection(this.pool, async (client) => {
        const read = (await client.query(
          claimReadSql(max * CLAIM_WINDOW_FACTOR, max, finished),
        )) as unknown as Array<pg.QueryResult<DueRow>>;
        const due = read[2]?.rows ?? [];
        const plan = planClaim(
          due.map((r) => ({
            id: r.id,
            origin: r.origin,
            inflight: r.inflight,
            dest: r.known
              ? { tokens: r.tokens, elapsedMs: r.elapsed_ms, failures: r.failures, openMs: r.open_ms }
              : undefined,
          })),
          max,
          limitsFor,
        );
        if (plan.picked.length === 0) {
          await client.query('COMMIT');
          return { rows: [] as LeasedRow[], plan, due };
        }
        const write = (await client.query(
          claimWriteSql(plan, this.#opts.instanceId, this.#opts.leaseMs, (due[0] as DueRow).at, (v) =>
            client.escapeLiteral(v),
          ),
        )) as unknown as Array<pg.QueryResult<LeasedRow>>;
        return { rows: write[0]?.rows ?? [], plan, due };
      });
      const opens = new Map(due.map((r) => [r.origin, r.opens]));
      const out: ClaimedRequest[] = [];
      for (const row of rows) {
        let request: StoredRequest;
        try {
          request = decodeStoredRequest(row.payload);
        } catch (err) {
          this.#log.error({ err, rowId: row.id }, 'a stored request cannot be decoded; left leased');
          continue;
        }
        out.push({
          rowId: row.id,
          request,
          attempt: (row.attempt_state as AttemptState | null) ?? undefined,
          probe: plan.probes.has(row.origin),
          opens: opens.get(row.origin) ?? 0,
        });
      }
      return out;
    });
  }

  /**
   * An attempt of a leased request is about to be sent. Kept in memory only: close() counts the attempts
   * it cuts short, and a crash is counted by the next claim (see `claim`).
   */
  attemptStarted(rowId: string, attempt: number): void {
    this.#started.set(rowId, attempt);
  }

  /** Renews the leases of requests this instance is still attempting. */
  async extendLeases(rowIds: readonly string[]): Promise<void> {
    if (rowIds.length === 0) return;
    await this.#db(() =>
      this.pool.query(
        `UPDATE dsp_lease SET until = now() + ($3 || ' milliseconds')::interval
         WHERE request_id = ANY($1::bigint[]) AND owner = $2`,
        [rowIds, this.#opts.instanceId, String(this.#opts.leaseMs)],
      ),
    );
  }

  /**
   * Records a destination's answer for the fleet-wide circuit breaker. A success closes it (resets the
   * count of failures) only as `ticket` allows (see `BreakerTicket`); each failure that reaches the
   * threshold (re)opens it and counts an opening.
   */
  async breakerOutcome(
    origin: string,
    ok: boolean,
    limits: DestinationLimits,
    ticket: BreakerTicket,
  ): Promise<void> {
    await this.#db(() =>
      ok
        ? this.pool.query(
            `UPDATE dsp_destination SET failures = 0, open_until = NULL, cooldown_ms = 0
             WHERE origin = $1 AND failures > 0 AND ($3 OR opens = $2)`,
            [origin, ticket.opens, ticket.probe],
          )
        : // The first failure of a destination without a row yet opens it too when the threshold is 1:
          // a row with failures at the threshold and no open_until reads as "cooled down, probe now".
          this.pool.query(
            `INSERT INTO dsp_destination (origin, tokens, refilled_at, failures, cooldown_ms, open_until, opens)
             VALUES ($1, $2, now(), 1,
               CASE WHEN 1 >= $3 THEN LEAST($5::int, $4::int) ELSE 0 END,
               CASE WHEN 1 >= $3 THEN now() + (LEAST($5::int, $4::int) || ' milliseconds')::interval END,
               CASE WHEN 1 >= $3 THEN 1 ELSE 0 END)
             ON CONFLICT (origin) DO UPDATE SET failures = dsp_destination.failures + 1,
               cooldown_ms = CASE WHEN dsp_destination.failures + 1 >= $3
                 THEN LEAST($5::int, GREATEST($4::int, dsp_destination.cooldown_ms * 2)) ELSE dsp_destination.cooldown_ms END,
               open_until = CASE WHEN dsp_destination.failures + 1 >= $3
                 THEN now() + (LEAST($5::int, GREATEST($4::int, dsp_destination.cooldown_ms * 2)) || ' milliseconds')::interval
                 ELSE dsp_destination.open_until END,
               opens = dsp_destination.opens + CASE WHEN dsp_destination.failures + 1 >= $3 THEN 1 ELSE 0 END`,
            [origin, limits.burst, limits.failureThreshold, limits.cooldownMs, limits.maxCooldownMs],
          ),
    );
  }

  /**
   * A failed attempt: the request is due again at `state.nextAt`, for any instance. Only while the lease is
   * still ours: once another instance took the request over (our lease ran out), its claim has already
   * counted this attempt as cut short, and our late failure must not drop its lease or move its due time
   * (the request would be claimed a third time while the new owner still delivers it).
   */
  async recordAttempt(rowId: string, state: AttemptState): Promise<void> {
    this.#started.delete(rowId);
    await this.#db(() =>
      this.pool.query(
        `WITH r AS (UPDATE dsp_request r SET attempt_state = $2, due_at = $3 WHERE id = $1
                      AND EXISTS (SELECT 1 FROM dsp_lease l WHERE l.request_id = r.id AND l.owner = $4)
                    RETURNING id)
         DELETE FROM dsp_lease WHERE request_id IN (SELECT id FROM r) AND owner = $4`,
        [rowId, JSON.stringify(state), new Date(state.nextAt), this.#opts.instanceId],
      ),
    );
  }

  /** Hands a request back (our side failed, or shutdown): due again at `dueAt`. */
  async release(rowIds: readonly string[], dueAt: number): Promise<void> {
    if (rowIds.length === 0) return;
    for (const id of rowIds) this.#started.delete(id);
    await this.#db(() =>
      this.pool.query(
        `WITH r AS (UPDATE dsp_request r SET due_at = $2 WHERE id = ANY($1::bigint[])
                      AND EXISTS (SELECT 1 FROM dsp_lease l WHERE l.request_id = r.id AND l.owner = $3)
                    RETURNING id)
         DELETE FROM dsp_lease WHERE request_id IN (SELECT id FROM r) AND owner = $3`,
        [rowIds, new Date(dueAt), this.#opts.instanceId],
      ),
    );
  }

  /**
   * Delivered: the row goes; its id stays known for `deliveredRetentionMs`; the destination's count of
   * consecutive failures starts again (a write only when there were some). Completions are group-committed
   * like accepts: one statement for every completion queued while the previous one ran, so deliveries/s do
   * not depend on one round trip and one commit per delivery. A batch succeeds or fails whole.
   */
  complete(
    rowId: string,
    messageId: string,
    delivered: object,
    origin: string,
    ticket: BreakerTicket,
  ): Promise<void> {
    this.#started.delete(rowId);
    this.#finishing.add(rowId);
    return new Promise<void>((resolve, reject) => {
      this.#completions.push({
        rowId,
        messageId,
        info: JSON.stringify(delivered),
        origin,
        ticket,
        resolve,
        reject,
      });
      if (!this.#completing) void this.#flushCompletions();
    });
  }

  async #flushCompletions(): Promise<void> {
    this.#completing = true;
    try {
      while (this.#completions.length > 0) {
        const batch = this.#completions.splice(0, 1000);
        // The breaker may close for an origin when one of its successes holds a ticket that allows it.
        const tickets = new Map<string, BreakerTicket>();
        for (const c of batch) tickets.set(`${c.ticket.probe ? 'p' : c.ticket.opens} ${c.origin}`, c.ticket);
        const keys = [...tickets.keys()];
        try {
          await this.#db(() =>
            this.pool.query(
              `WITH i AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::jsonb[]) AS t(id, message_id, info)),
                    d AS (DELETE FROM dsp_request r USING i WHERE r.id = i.id RETURNING r.id, i.message_id, i.info),
                    l AS (DELETE FROM dsp_lease WHERE request_id IN (SELECT id FROM d)),
                    b AS (UPDATE dsp_destination x SET failures = 0, open_until = NULL, cooldown_ms = 0
                          FROM unnest($4::text[], $5::int[], $6::bool[]) AS s(origin, opens, probe)
                          WHERE x.origin = s.origin AND x.failures > 0 AND (s.probe OR x.opens = s.opens))
               INSERT INTO dsp_delivered (message_id, info)
               SELECT DISTINCT ON (message_id) message_id, info FROM d
               ON CONFLICT (message_id) DO UPDATE SET info = EXCLUDED.info, delivered_at = now()`,
              [
                batch.map((c) => c.rowId),
                batch.map((c) => c.messageId),
                batch.map((c) => c.info),
                keys.map((k) => k.slice(k.indexOf(' ') + 1)),
                keys.map((k) => (tickets.get(k) as BreakerTicket).opens),
                keys.map((k) => (tickets.get(k) as BreakerTicket).probe),
              ],
            ),
          );
          for (const c of batch) c.resolve();
        } catch (err) {
          for (const c of batch) c.reject(err);
        } finally {
          // Committed, or failed: then the lease runs out and the request is delivered again.
          for (const c of batch) this.#finishing.delete(c.rowId);
        }
      }
    } finally {
      this.#completing = false;
    }
  }

  /**
   * Moves a request to the dead letters (one statement: both or neither). Only while the lease is ours, as
   * in `recordAttempt`: an instance that took the request over is attempting it again, counted.
   */
  async deadLetter(rowId: string, request: StoredRequest, info: DeadLetterInfo): Promise<void> {
    this.#started.delete(rowId);
    await this.#db(() =>
      this.pool.query(
        `WITH d AS (DELETE FROM dsp_request r WHERE id = $1
                      AND EXISTS (SELECT 1 FROM dsp_lease l WHERE l.request_id = r.id AND l.owner = $6)
                    RETURNING id, payload),
              l AS (DELETE FROM dsp_lease WHERE request_id IN (SELECT id FROM d))
         INSERT INTO dsp_dead_letter (message_id, host, info, payload, dead_at)
         SELECT $2, $3, $4, d.payload, $5 FROM d`,
        [
          rowId,
          request.message.id,
          info.host,
          JSON.stringify(info),
          new Date(info.deadAt),
          this.#opts.instanceId,
        ],
      ),
    );
  }

  /** Where a message is: pending (with retry state and lease), dead-lettered, delivered, or unknown. */
  async lookup(
    messageId: string,
  ): Promise<
    | { status: 'pending'; request: StoredRequest; attempt: AttemptState | undefined; leased: boolean }
    | { status: 'dead-lettered'; letter: PgDeadLetter }
    | { status: 'delivered'; info: Record<string, unknown> }
    | undefined
  > {
    return this.#db(async () => {
      const p = await this.pool.query<{
        payload: Buffer;
        attempt_state: AttemptState | null;
        leased: boolean;
      }>(
        `SELECT payload, attempt_state, EXISTS (SELECT 1 FROM dsp_lease l WHERE l.request_id = r.id
           AND l.until > now()) AS leased FROM dsp_request r WHERE message_id = $1`,
        [messageId],
      );
      const row = p.rows[0];
      if (row)
        return {
          status: 'pending' as const,
          request: decodeStoredRequest(row.payload),
          attempt: row.attempt_state ?? undefined,
          leased: row.leased === true,
        };
      const letter = await this.readDeadLetter(messageId);
      if (letter) return { status: 'dead-lettered' as const, letter };
      const d = await this.pool.query<{ info: Record<string, unknown> }>(
        'SELECT info FROM dsp_delivered WHERE message_id = $1',
        [messageId],
      );
      return d.rows[0] ? { status: 'delivered' as const, info: d.rows[0].info } : undefined;
    });
  }

  /** Pending requests (optionally of one destination host), oldest first, from row id `cursor`. */
  async pending(
    cursor: string | undefined,
    limit: number,
    host?: string,
  ): Promise<
    Array<{ cursor: string; request: StoredRequest; attempt: AttemptState | undefined; leased: boolean }>
  > {
    return this.#db(async () => {
      const r = await this.pool.query<{
        id: string;
        payload: Buffer;
        attempt_state: AttemptState | null;
        leased: boolean;
      }>(
        `SELECT id, payload, attempt_state, EXISTS (SELECT 1 FROM dsp_lease l WHERE l.request_id = r.id
           AND l.until > now()) AS leased FROM dsp_request r
         WHERE id > $1 AND ($3::text IS NULL OR origin LIKE '%//' || $3) ORDER BY id LIMIT $2`,
        [cursor ?? '0', limit, host ?? null],
      );
      return r.rows.map((row) => ({
        cursor: row.id,
        request: decodeStoredRequest(row.payload),
        attempt: row.attempt_state ?? undefined,
        leased: row.leased,
      }));
    });
  }

  async deadLetterCount(): Promise<number> {
    const r = await this.#db(() =>
      this.pool.query<{ n: string }>('SELECT count(*) AS n FROM dsp_dead_letter'),
    );
    return Number(r.rows[0]?.n ?? 0);
  }

  /** This instance's connection pool (no query: available while the database is down). */
  poolStats(): PgPoolStats {
    return {
      max: this.#opts.poolMax,
      total: this.pool.totalCount,
      idle: this.pool.idleCount,
      waiting: this.pool.waitingCount,
    };
  }

  /**
   * Fleet-wide backlog figures for health checks, in one scan of the pending requests. Calls within
   * `STATS_TTL_MS` of each other share one query, so frequent probes cost one scan per interval.
   */
  stats(): Promise<PgStoreStats> {
    const now = Date.now();
    if (this.#stats && now - this.#stats.at < STATS_TTL_MS) return this.#stats.result;
    const result = this.#db(async () => {
      const r = await this.pool.query<{
        pending: string;
        leased: string;
        leased_here: string;
        due: string;
        oldest_ms: number;
        dead_letters: string;
        open_breakers: string;
      }>(
        `SELECT count(*) AS pending,
                count(l.request_id) AS leased,
                count(*) FILTER (WHERE l.owner = $1) AS leased_here,
                count(*) FILTER (WHERE due_at <= now() AND l.request_id IS NULL) AS due,
                coalesce(extract(epoch FROM now() - min(created_at)) * 1000, 0)::float8 AS oldest_ms,
                (SELECT count(*) FROM dsp_dead_letter) AS dead_letters,
                (SELECT count(*) FROM dsp_destination WHERE open_until > now()) AS open_breakers
         FROM dsp_request r LEFT JOIN dsp_lease l ON l.request_id = r.id AND l.until >= now()`,
        [this.#opts.instanceId],
      );
      const row = r.rows[0];
      return {
        pending: Number(row?.pending ?? 0),
        leased: Number(row?.leased ?? 0),
        leasedHere: Number(row?.leased_here ?? 0),
        due: Number(row?.due ?? 0),
        oldestPendingMs: Math.max(0, Math.round(Number(row?.oldest_ms ?? 0))),
        deadLetters: Number(row?.dead_letters ?? 0),
        openBreakers: Number(row?.open_breakers ?? 0),
        pool: this.poolStats(),
      };
    });
    this.#stats = { at: now, result };
    // A failure is not kept: the next probe asks again.
    result.catch(() => {
      if (this.#stats?.result === result) this.#stats = undefined;
    });
    return result;
  }

  async backlog(): Promise<number> {
    const r = await this.#db(() => this.pool.query<{ n: string }>('SELECT count(*) AS n FROM dsp_request'));
    return Number(r.rows[0]?.n ?? 0);
  }

  /** Dead letters after row id `cursor`, oldest first, optionally of one host. */
  async deadLetters(
    cursor: string | undefined,
    limit: number,
    host?: string,
  ): Promise<Array<PgDeadLetter & { cursor: string }>> {
    return this.#db(async () => {
      const r = await this.pool.query<{ id: string; info: DeadLetterInfo; payload: Buffer }>(
        `SELECT id, info, payload FROM dsp_dead_letter WHERE id > $1 AND ($3::text IS NULL OR host = $3)
         ORDER BY id LIMIT $2`,
        [cursor ?? '0', limit, host ?? null],
      );
      return r.rows.map((row) => ({
        cursor: row.id,
        id: row.id,
        info: row.info,
        request: decodeStoredRequest(row.payload),
      }));
    });
  }

  /** The newest dead letter with this message id. */
  async readDeadLetter(messageId: string): Promise<PgDeadLetter | undefined> {
    const r = await this.#db(() =>
      this.pool.query<{ id: string; info: DeadLetterInfo; payload: Buffer }>(
        'SELECT id, info, payload FROM dsp_dead_letter WHERE message_id = $1 ORDER BY id DESC LIMIT 1',
        [messageId],
      ),
    );
    const row = r.rows[0];
    return row ? { id: row.id, info: row.info, request: decodeStoredRequest(row.payload) } : undefined;
  }

  /**
   * Redrives dead letters (by their row ids): each becomes a pending request again, with the same message
   * id, edited by `edit`, in the same transaction that deletes the letter. Resolves with the ids redriven.
   */
  async redrive(letterIds: readonly string[], edit: (r: StoredRequest) => StoredRequest): Promise<string[]> {
    if (letterIds.length === 0) return [];
    return this.#db(() =>
      inTransaction(this.pool, async (client) => {
        const del = await client.query<{ message_id: string; payload: Buffer }>(
          'DELETE FROM dsp_dead_letter WHERE id = ANY($1::bigint[]) RETURNING message_id, payload',
          [letterIds],
        );
        const copies = del.rows.map((row) => {
          const req = edit(decodeStoredRequest(row.payload));
          return { id: row.message_id, req };
        });
        if (copies.length > 0) {
          await client.query(
            `INSERT INTO dsp_request (message_id, origin, payload, due_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[])
             ON CONFLICT (message_id) DO NOTHING`,
            [
              copies.map((c) => c.id),
              copies.map((c) => originOfTarget(c.req.target)),
              copies.map((c) => encodeStoredRequest(c.req)),
              copies.map(() => new Date()),
            ],
          );
          await client.query(`SELECT pg_notify('${NOTIFY_CHANNEL}', '')`);
        }
        return copies.map((c) => c.id);
      }),
    );
  }

  /** Deletes dead letters by row id; resolves with how many went. */
  async purgeDeadLetters(letterIds: readonly string[]): Promise<number> {
    const r = await this.#db(() =>
      this.pool.query('DELETE FROM dsp_dead_letter WHERE id = ANY($1::bigint[])', [letterIds]),
    );
    return r.rowCount ?? 0;
  }

  /**
   * Bulk retention: delivered ids past `deliveredRetentionMs` and expired idempotency keys go, in chunks
   * (short transactions, so autovacuum reclaims the space behind them). Resolves with rows removed.
   */
  async sweep(): Promise<number> {
    let removed = 0;
    for (const sql of [
      `DELETE FROM dsp_delivered WHERE message_id IN (SELECT message_id FROM dsp_delivered
         WHERE delivered_at < now() - ($1 || ' milliseconds')::interval LIMIT 10000)`,
      `DELETE FROM dsp_idempotency WHERE key IN (SELECT key FROM dsp_idempotency
         WHERE expires_at <= now() LIMIT 10000)`,
      // Run-out leases of requests settled meanwhile by their previous owner (see claimWriteSql).
      `DELETE FROM dsp_lease WHERE request_id IN (SELECT request_id FROM dsp_lease l WHERE until < now()
         AND NOT EXISTS (SELECT 1 FROM dsp_request r WHERE r.id = l.request_id) LIMIT 10000)`,
    ]) {
      const params = sql.includes('$1') ? [String(this.#opts.deliveredRetentionMs)] : [];
      for (;;) {
        const r = await this.#db(() => this.pool.query(sql, params));
        removed += r.rowCount ?? 0;
        if ((r.rowCount ?? 0) < 10000) break;
      }
    }
    return removed;
  }

  /** Stops listening, hands back leases still held (other instances take them at once), ends the pool. */
  async close(releaseLeases = true): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Writes under way (accepts, a delivery's DELETE) go first: handing their leases back before them
    // would let another instance deliver those requests again.
    if (this.#running > 0 || this.#flushing || this.#completing) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#idle.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.#opts.statementTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    const l = this.#listener;
    this.#listener = undefined;
    await l?.end().catch(() => {});
    if (releaseLeases) {
      // Attempts cut short by the shutdown count (their outcome is unknown), then every lease goes back.
      const cut = [...this.#started];
      await this.pool
        .query(
          // The request rows first, then the leases: the order settlements lock them in (see claimWriteSql).
          `WITH cut AS (
             UPDATE dsp_request r SET attempt_state =
               coalesce(r.attempt_state, jsonb_build_object('nextAt', 0, 'previousDelayMs', 0,
                 'firstAttemptAt', floor(extract(epoch FROM now()) * 1000)))
               || jsonb_build_object('attempt', s.attempt, 'lastError', '${INTERRUPTED}')
             FROM unnest($2::bigint[], $3::int[]) AS s(id, attempt)
             WHERE r.id = s.id AND s.attempt > coalesce((r.attempt_state->>'attempt')::int, 0)
               AND EXISTS (SELECT 1 FROM dsp_lease l WHERE l.request_id = r.id AND l.owner = $1)
             RETURNING r.id)
           DELETE FROM dsp_lease WHERE owner = $1 AND (SELECT count(*) FROM cut) >= 0`,
          [this.#opts.instanceId, cut.map(([id]) => id), cut.map(([, a]) => a)],
        )
        .catch((err: unknown) => this.#log.warn({ err }, 'could not hand back leases; they expire'));
    }
    await this.pool.end();
  }
}

/**
 * The rows of `columns()`: the payloads travel as one binary parameter cut by offset and length (an array
 * of bytea would be written as hex text by the driver and parsed back by the server), due times as epoch
 * milliseconds.
 */
const ROWS_FROM_COLUMNS = `SELECT m, o, substring($3::bytea FROM s FOR l), to_timestamp(d / 1000.0)
  FROM unnest($1::text[], $2::text[], $4::int[], $5::int[], $6::float8[]) AS x(m, o, s, l, d)`;

function columns(batch: readonly PendingAccept[]): unknown[] {
  const starts: number[] = [];
  const lengths: number[] = [];
  let at = 1; // substring() counts from 1
  for (const p of batch) {
    starts.push(at);
    lengths.push(p.payload.length);
    at += p.payload.length;
  }
  return [
    batch.map((p) => p.messageId),
    batch.map((p) => originOfTarget(p.request.target)),
    Buffer.concat(batch.map((p) => p.payload)),
    starts,
    lengths,
    batch.map((p) => p.dueAt),
  ];
}

function originOfTarget(target: string): string {
  const slash = target.indexOf('/', target.indexOf('://') + 3);
  return slash < 0 ? target : target.slice(0, slash);
}

/**
 * Whether `err` means "the database is not there right now" rather than "it refused this statement": the
 * server's own errors carry a SQLSTATE (`DatabaseError`), of which only classes 08 (connection), 53
 * (resources) and 57P (shutdown) are outages; errors without one come from the socket or the pool (refused,
 * reset, connect timeout) and are outages too.
 */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof pg.DatabaseError) return /^(08|53|57P)/.test(err.code ?? '');
  return err instanceof Error && !ProxyError.isInstance(err);
}
