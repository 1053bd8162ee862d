/**
 * Versioned schema of the PostgreSQL store. Each migration runs once, in order, in its own transaction;
 * `dsp_schema_version` records the ones applied. A session advisory lock serialises instances that start
 * at the same time: the first applies, the others wait and then find nothing to do.
 *
 * Never edit a released migration: add the next one.
 */
import type { Logger } from '@dispatcher/core';
import pg, { type Pool } from 'pg';
import { ProxyError } from '../../errors.js';
import { checkOut } from './check-out.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'requests, dead letters, idempotency keys, delivered ids, destination limits',
    sql: `
      CREATE TABLE dsp_request (
        id            bigserial PRIMARY KEY,
        message_id    text        NOT NULL UNIQUE,
        origin        text        NOT NULL,
        payload       bytea       NOT NULL,
        due_at        timestamptz NOT NULL,
        attempt_state jsonb,
        lease_owner   text,
        lease_until   timestamptz,
        created_at    timestamptz NOT NULL DEFAULT now()
      );
      -- Claims look for due requests that nobody holds (or whose holder's lease ran out).
      CREATE INDEX dsp_request_due ON dsp_request (due_at, id);
      -- Fleet-wide concurrency: leases held per destination.
      CREATE INDEX dsp_request_leased ON dsp_request (origin, lease_until) WHERE lease_until IS NOT NULL;
      -- Every delivery deletes a row: vacuum this hot table early rather than at 20 % dead tuples.
      ALTER TABLE dsp_request SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
        autovacuum_vacuum_insert_scale_factor = 0.01);

      CREATE TABLE dsp_idempotency (
        key        text PRIMARY KEY,
        message_id text        NOT NULL,
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX dsp_idempotency_expires ON dsp_idempotency (expires_at);

      CREATE TABLE dsp_dead_letter (
        id         bigserial PRIMARY KEY,
        message_id text        NOT NULL,
        host       text        NOT NULL,
        info       jsonb       NOT NULL,
        payload    bytea       NOT NULL,
        dead_at    timestamptz NOT NULL
      );
      CREATE INDEX dsp_dead_letter_message ON dsp_dead_letter (message_id);
      CREATE INDEX dsp_dead_letter_host ON dsp_dead_letter (host, id);

      CREATE TABLE dsp_delivered (
        message_id   text PRIMARY KEY,
        info         jsonb       NOT NULL,
        delivered_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX dsp_delivered_at ON dsp_delivered (delivered_at);

      -- Fleet-wide rate limit (token bucket) and circuit breaker per destination origin.
      CREATE TABLE dsp_destination (
        origin      text PRIMARY KEY,
        tokens      double precision NOT NULL,
        refilled_at timestamptz      NOT NULL,
        failures    integer          NOT NULL DEFAULT 0,
        open_until  timestamptz,
        cooldown_ms integer          NOT NULL DEFAULT 0
      );
    `,
  },
  {
    version: 2,
    name: 'circuit breaker: count of openings, so a success only closes what was open when its attempt was claimed',
    sql: `
      -- Each time a destination's breaker opens (again), this goes up. A claim notes it; a success whose
      -- claim saw an older count started before the breaker opened and must not close it.
      ALTER TABLE dsp_destination ADD COLUMN opens integer NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 3,
    name: 'leases in a table of their own, so a claim does not rewrite the request row',
    sql: `
      -- One small row per leased request. A claim inserts it and a settlement deletes it, instead of an
      -- UPDATE that copied the whole request row (payload included) and added an entry to each of its
      -- indexes. A lease row whose time ran out is an attempt whose outcome never came.
      CREATE TABLE dsp_lease (
        request_id bigint      PRIMARY KEY,
        origin     text        NOT NULL,
        owner      text        NOT NULL,
        until      timestamptz NOT NULL
      );
      -- Fleet-wide concurrency: unexpired leases per destination.
      CREATE INDEX dsp_lease_origin ON dsp_lease (origin, until);
      ALTER TABLE dsp_lease SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
        autovacuum_vacuum_insert_scale_factor = 0.01);
      INSERT INTO dsp_lease (request_id, origin, owner, until)
        SELECT id, origin, lease_owner, lease_until FROM dsp_request
        WHERE lease_owner IS NOT NULL AND lease_until IS NOT NULL;
      DROP INDEX dsp_request_leased;
      ALTER TABLE dsp_request DROP COLUMN lease_owner, DROP COLUMN lease_until;
    `,
  },
];

/** The newest schema version this build understands. */
export const SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

// Any fixed 64-bit number, the same in every instance: names the lock that serialises migrations.
const MIGRATION_LOCK = 0x4453_5050_0001n;

/**
 * Applies the migrations not yet applied, under an advisory lock. Throws `DSP_PROXY_SCHEMA_TOO_NEW` when
 * the database has a version this build does not know (a newer binary migrated it). Resolves with the
 * versions applied now.
 */
export async function migrate(pool: Pool, log: Logger): Promise<number[]> {
  const client = await checkOut(pool);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    try {
      await client.query(
        'CREATE TABLE IF NOT EXISTS dsp_schema_version (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
      );
      const { rows } = await client.query<{ v: number | null }>(
        'SELECT max(version) AS v FROM dsp_schema_version',
      );
      const current = rows[0]?.v ?? 0;
      if (current > SCHEMA_VERSION) {
        throw new ProxyError(
          'DSP_PROXY_SCHEMA_TOO_NEW',
          `the database schema is at version ${current}, this build knows up to ${SCHEMA_VERSION}: upgrade the binary`,
          { details: { databaseVersion: current, knownVersion: SCHEMA_VERSION } },
        );
      }
      const applied: number[] = [];
      for (const m of MIGRATIONS) {
        if (m.version <= current) continue;
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO dsp_schema_version (version, name) VALUES ($1, $2)', [
            m.version,
            m.name,
          ]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
        log.info({ version: m.version, migration: m.name }, 'schema migration applied');
        applied.push(m.version);
      }
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]).catch(() => {});
    }
  } finally {
    client.release(client.failed);
  }
}

/**
 * The `http-dispatcher migrate` command: applies pending migrations to the database at `connectionString`
 * and resolves with the versions applied (empty when up to date).
 */
export async function migrateDatabase(connectionString: string, log: Logger): Promise<number[]> {
  const pool = new pg.Pool({ connectionString, max: 1, connectionTimeoutMillis: 10_000 });
  try {
    return await migrate(pool, log);
  } finally {
    await pool.end();
  }
}
