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
