import amqp, { type ChannelModel } from 'amqplib';

export interface TrackedConnection {
  readonly conn: ChannelModel;
  /** The close error as text once the connection closed (e.g. 320 from the broker side); undefined while open. */
  readonly reason: () => string | undefined;
}

/**
 * An amqplib connection with one channel open, whose close reason is recorded rather than thrown, for tests
 * that close connections from the broker side. The caller closes `conn`.
 */
export async function trackedConnection(url: string, socketOptions?: object): Promise<TrackedConnection> {
  const conn = await amqp.connect(url, socketOptions);
  conn.on('error', () => {});
  let reason: string | undefined;
  conn.on('close', (err?: Error) => {
    reason = String(err);
  });
  await conn.createChannel();
  return { conn, reason: () => reason };
}

/** `amqpBase` (`amqp://host:port`) with `user`, `password` and `vhost` filled in. */
export function amqpUrlFor(amqpBase: string, user: string, password: string, vhost: string): string {
  const credentials = `${encodeURIComponent(user)}:${encodeURIComponent(password)}@`;
  return `${amqpBase.replace('://', `://${credentials}`)}/${encodeURIComponent(vhost)}`;
}
