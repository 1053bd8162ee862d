/** A TCP relay to the machine's PostgreSQL that a test can cut and restore on the same port (an outage). */
import type { AddressInfo } from 'node:net';
import { connect, createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { onCleanup } from './start-proxy.js';

/** A TCP relay to PostgreSQL that the test can cut and restore (same port). */
export async function relay(): Promise<{
  url: (db: string) => string;
  cut: () => Promise<void>;
  restore: () => Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let server: TcpServer | undefined;
  let port = 0;
  const listen = async () => {
    server = createTcpServer((client) => {
      const upstream = connect(5432, '127.0.0.1');
      sockets.add(client);
      sockets.add(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((r) => (server as TcpServer).listen(port, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  };
  const cut = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  await listen();
  onCleanup(cut);
  return {
    url: (dbUrl) => {
      const u = new URL(dbUrl);
      u.port = String(port);
      return u.href;
    },
    cut,
    restore: listen,
  };
}
