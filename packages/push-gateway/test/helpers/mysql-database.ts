import { readFileSync } from 'node:fs';
import { createPool, type Pool } from 'mysql2/promise';

/** A throw-away database on the machine's MariaDB (127.0.0.1:3306, root, no password) with the original schema. */
export interface TestDatabase {
  readonly name: string;
  readonly pool: Pool;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `push_test_${process.pid}_${Date.now().toString(36)}`;
  const admin = createPool({ host: '127.0.0.1', port: 3306, user: 'root', password: '', connectionLimit: 1 });
  await admin.query(`CREATE DATABASE \`${name}\``);
  const pool = createPool({
    host: '127.0.0.1',
    port: 3306,
    user: 'root',
    password: '',
    database: name,
    connectionLimit: 5,
    multipleStatements: true,
  });
  await pool.query(readFileSync(new URL('../fixtures/medispatcher-schema.sql', import.meta.url), 'utf8'));
  return {
    name,
    pool,
    async drop() {
      await pool.end();
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    },
  };
}
