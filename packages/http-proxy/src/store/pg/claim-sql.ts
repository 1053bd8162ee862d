/**
 * The two queries of a claim (see `PgStore.claim`), sent as simple queries so that each carries several
 * statements in one round trip: `BEGIN` + the fleet's claim lock + the read, then the leases + `COMMIT`.
 * Simple queries take no parameters, so values are written into the text: row ids are the database's own
 * bigints (checked to be digits), numbers are checked to be finite, strings go through the driver's
 * `escapeLiteral`.
 */
import type { ClaimPlan } from './claim-plan.js';

/** A transaction-level advisory lock: claims of the whole fleet take turns. */
export const CLAIM_LOCK = 0x4453_5050_0002n;

/** Retry state's `lastError` for an attempt whose outcome never came (its instance stopped or died). */
export const INTERRUPTED = 'no outcome: the proxy stopped during this attempt';

/** A row of the claim's read. */
export interface DueRow {
  id: string;
  origin: string;
  /** Unexpired leases of the origin, less `finished`. */
  inflight: number;
  /** The origin has a destination row (bucket, breaker). */
  known: boolean;
  opens: number;
  tokens: number;
  elapsed_ms: number;
  failures: number;
  open_ms: number | null;
  /**
   * When the read ran, under the lock (not the transaction's start, which is before the wait for the
   * lock): the token buckets are refilled up to this instant and stamped with it.
   */
  at: string;
}

/** A leased row as the claim's write returns it. */
export interface LeasedRow {
  id: string;
  origin: string;
  payload: Buffer;
  attempt_state: object | null;
}

/**
 * Begins the transaction, takes the claim lock, then reads up to `window` due requests nobody holds, oldest
 * first, each with its destination's figures. The read is a statement of its own after the lock, so its
 * snapshot sees every claim committed before the lock was granted. `finished`: row ids of attempts that are
 * over but whose completion is not committed yet (their leases do not count as in flight). Results: BEGIN,
 * the lock, then the rows (`DueRow`).
 *
 * Of each destination only the first `perOrigin` rows come back: a claim of `perOrigin` requests could
 * take no later one (`planClaim` takes a destination's rows in due order), and turning rows into objects
 * is most of what a claim costs this process.
 */
export function claimReadSql(window: number, perOrigin: number, finished: readonly string[]): string {
  return `BEGIN; SELECT pg_advisory_xact_lock(${CLAIM_LOCK});
    WITH t AS MATERIALIZED (SELECT clock_timestamp() AS at),
    due AS MATERIALIZED (
      SELECT id, origin, due_at FROM dsp_request r
      WHERE due_at <= now()
        AND NOT EXISTS (SELECT 1 FROM dsp_lease l WHERE l.request_id = r.id AND l.until >= now())
      ORDER BY due_at, id LIMIT ${count(window)}),
    ranked AS (
      SELECT id, origin, due_at, row_number() OVER (PARTITION BY origin ORDER BY due_at, id) AS k FROM due),
    leased AS (
      SELECT origin, count(*)::int AS n FROM dsp_lease
      WHERE origin IN (SELECT origin FROM due) AND until >= now() AND request_id <> ALL(${bigints(finished)})
      GROUP BY origin)
    SELECT due.id, due.origin, coalesce(leased.n, 0) AS inflight, d.origin IS NOT NULL AS known,
           coalesce(d.opens, 0) AS opens, d.tokens,
           (extract(epoch FROM t.at - d.refilled_at) * 1000)::float8 AS elapsed_ms,
           d.failures, (extract(epoch FROM d.open_until - t.at) * 1000)::float8 AS open_ms, t.at::text AS at
    FROM ranked due CROSS JOIN t LEFT JOIN leased USING (origin) LEFT JOIN dsp_destination d USING (origin)
    WHERE due.k <= ${count(perOrigin)}
    ORDER BY due.due_at, due.id`;
}

/**
 * Leases the planned rows to `owner` for `leaseMs` (a row each in `dsp_lease`; the request row is not
 * written), writes the destination rows the plan touched (buckets stamped `readAt`, the read's `at`), and
 * commits. Results: the leased rows (`LeasedRow`), then COMMIT.
 *
 * A row that still has a lease (run out, or the read would not have picked it) was never settled: that
 * instance died during the attempt (as a rule: claimed requests start at once), which counts, as the
 * embedded store counts an attempt a crash cut short. Such a request row is locked first (`FOR UPDATE SKIP
 * LOCKED`, and still due): its old owner may be settling it right now, and settlements lock the request
 * row before its lease, so the two cannot deadlock. A row without a lease has no owner that could settle
 * it, and claims take turns, so it needs no lock. Every row must still be due: its owner may have recorded a
 * failed attempt (lease dropped, due later) between the read and this write.
 */
export function claimWriteSql(
  plan: ClaimPlan,
  owner: string,
  leaseMs: number,
  readAt: string,
  escapeLiteral: (s: string) => string,
): string {
  const t = plan.touched;
  const at = `${escapeLiteral(readAt)}::timestamptz`;
  const picked = bigints(plan.picked);
  return `WITH dest AS (
      INSERT INTO dsp_destination (origin, tokens, refilled_at, open_until)
      SELECT o, t, ${at}, CASE WHEN p THEN ${at} + (c || ' milliseconds')::interval END
      FROM unnest(ARRAY[${t.map((d) => escapeLiteral(d.origin)).join(',')}]::text[],
                  ARRAY[${t.map((d) => finite(d.tokens)).join(',')}]::float8[],
                  ARRAY[${t.map((d) => String(d.probe)).join(',')}]::bool[],
                  ARRAY[${t.map((d) => count(d.cooldownMs)).join(',')}]::int[]) AS x(o, t, p, c)
      ON CONFLICT (origin) DO UPDATE SET tokens = EXCLUDED.tokens, refilled_at = EXCLUDED.refilled_at,
        open_until = coalesce(EXCLUDED.open_until, dsp_destination.open_until)),
    old AS (SELECT request_id AS id FROM dsp_lease WHERE request_id = ANY(${picked})),
    locked AS (SELECT id FROM dsp_request WHERE id IN (SELECT id FROM old) AND due_at <= now()
               FOR UPDATE SKIP LOCKED),
    lease AS (
      INSERT INTO dsp_lease (request_id, origin, owner, until)
      SELECT id, origin, ${escapeLiteral(owner)}, now() + interval '${count(leaseMs)} milliseconds'
      FROM dsp_request WHERE id = ANY(${picked}) AND due_at <= now()
        AND (id NOT IN (SELECT id FROM old) OR id IN (SELECT id FROM locked))
      ON CONFLICT (request_id) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until
        WHERE dsp_lease.until < now()
      RETURNING request_id AS id),
    cut AS (
      UPDATE dsp_request SET attempt_state =
        coalesce(attempt_state, jsonb_build_object('nextAt', 0, 'previousDelayMs', 0,
          'firstAttemptAt', floor(extract(epoch FROM now()) * 1000)))
        || jsonb_build_object('attempt', coalesce((attempt_state->>'attempt')::int, 0) + 1,
             'lastError', '${INTERRUPTED}')
      WHERE id IN (SELECT id FROM locked) AND id IN (SELECT id FROM lease)
      RETURNING id, attempt_state)
    SELECT r.id, r.origin, r.payload, coalesce(cut.attempt_state, r.attempt_state) AS attempt_state
    FROM dsp_request r JOIN lease USING (id) LEFT JOIN cut USING (id);
    COMMIT`;
}

function bigints(ids: readonly string[]): string {
  for (const id of ids) if (!/^\d{1,19}$/.test(id)) throw new Error(`not a row id: ${JSON.stringify(id)}`);
  return `'{${ids.join(',')}}'::bigint[]`;
}

function count(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`not a count: ${n}`);
  return String(n);
}

function finite(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`not a finite number: ${n}`);
  return String(n);
}
