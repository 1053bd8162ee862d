/**
 * A private PostgreSQL database per test file on the machine's server (127.0.0.1:5432, trust auth),
 * created through the `test` database and dropped after the file's tests.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';

const ADMIN_URL = process.env.DISPATCHER_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `dispatcher_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * A private database for the calling test file: created before its tests, dropped after them (after the
 * file's own `afterAll` hooks, which may still hold connections). `url` is read once the tests run.
 */
export function databaseForFile(): { readonly url: string } {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });
  return {
    get url(): string {
      if (db === undefined) throw new Error('the test database is created in beforeAll');
      return db.url;
    },
  };
}
