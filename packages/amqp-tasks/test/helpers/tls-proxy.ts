import { connect, type Socket } from 'node:net';
import { createServer, type Server as TlsServer } from 'node:tls';

/** Terminates TLS on a free port and forwards the plain bytes to the broker: an `amqps://` endpoint. */
export class TlsProxy {
  readonly #server: TlsServer;
  readonly #sockets = new Set<Socket>();

  private constructor(server: TlsServer) {
    this.#server = server;
  }

  static async start(targetUrl: string, credentials: { cert: string; key: string }): Promise<TlsProxy> {
    const target = new URL(targetUrl);
    let proxy!: TlsProxy;
    const server = createServer(credentials, (client) => {
      const upstream = connect({ host: target.hostname || '127.0.0.1', port: Number(target.port || 5672) });
      proxy.#sockets.add(client);
      proxy.#sockets.add(upstream);
      const teardown = () => {
        client.destroy();
        upstream.destroy();
        proxy.#sockets.delete(client);
        proxy.#sockets.delete(upstream);
      };
      for (const socket of [client, upstream]) {
        socket.on('error', teardown);
        socket.on('close', teardown);
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    server.on('tlsClientError', () => undefined);
    proxy = new TlsProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** `amqps://` URL of the proxy for the user and password of `url`, on host `localhost`. */
  urlFor(url: string): string {
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening');
    const parsed = new URL(url);
    return `amqps://${parsed.username}:${parsed.password}@localhost:${address.port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
