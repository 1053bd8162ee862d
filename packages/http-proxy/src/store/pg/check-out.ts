import type { Pool, PoolClient } from 'pg';

/** A pooled connection, and whether it failed while checked out (then it is destroyed, not reused). */
export type CheckedOut = PoolClient & { failed?: boolean };

/**
 * Takes a connection from the pool. A connection that drops between two queries emits `error`; the pool
 * listens only to idle ones, so without this listener a dropped checked-out connection would crash the
 * process. The failure shows in the next query, which rejects.
 */
export async function checkOut(pool: Pool): Promise<CheckedOut> {
  const client = (await pool.connect()) as CheckedOut;
  if (!client.listenerCount('error')) {
    client.on('error', () => {
      client.failed = true;
    });
  }
  client.failed = undefined;
  return client;
}

/**
 * Runs `work` on a checked-out connection. When it throws: ROLLBACK (a transaction it began ends; outside
 * one this is harmless), and the connection is destroyed rather than reused.
 */
export async function onConnection<T>(pool: Pool, work: (client: CheckedOut) => Promise<T>): Promise<T> {
  const client = await checkOut(pool);
  try {
    return await work(client);
  } catch (err) {
    client.failed = true;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release(client.failed);
  }
}

/** Runs `work` in one transaction on a checked-out connection (see `onConnection`): COMMIT when it resolves. */
export function inTransaction<T>(pool: Pool, work: (client: CheckedOut) => Promise<T>): Promise<T> {
  return onConnection(pool, async (client) => {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  });
}
