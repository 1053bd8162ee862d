import type { Logger } from '@dispatcher/core';

/**
 * Applies the PostgreSQL store's pending schema migrations (`http-dispatcher migrate`); resolves with the
 * versions applied. Throws `DSP_PROXY_SCHEMA_TOO_NEW` when the database is ahead of this build. The driver
 * is loaded on call, so the embedded store never loads it.
 */
export async function migratePostgres(connectionString: string, logger: Logger): Promise<number[]> {
  const { migrateDatabase } = await import('./store/pg/pg-migrations.js');
  return migrateDatabase(connectionString, logger);
}
