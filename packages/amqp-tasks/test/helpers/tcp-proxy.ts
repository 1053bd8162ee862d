import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';

/**
 * A TCP proxy between a client and the broker that a test can cut (both sockets destroyed, as when the
 * broker or the network drops the connection) and refuse (new connections closed at once, as a broker that
 * is down). Deterministic and without any broker CLI.
 */
export class TcpProxy {
  readonly #server: NetServer;
  readonly #pairs = new Set<[Socket, Socket]>();
  #refusing = false;
  /** Connections accepted so far. */
  accepted = 0;
  /** Connections closed at once while refusing (connection attempts a test can wait for). */
  refused = 0;

  private constructor(server: NetServer) {
    this.#server = server;
  }

  static async start(targetUrl: string): Promise<TcpProxy> {
    const target = new URL(targetUrl);
    const host = target.hostname || '127.0.0.1';
    const port = Number(target.port || 5672);
    let proxy!: TcpProxy;
    const server = createServer((client) => {
      if (proxy.#refusing) {
        proxy.refused++;
        client.destroy();
        return;
      }
      proxy.accepted++;
      const upstream = connect({ host, port });
      const pair: [Socket, Socket] = [client, upstream];
      proxy.#pairs.add(pair);
      const teardown = () => {
        proxy.#pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', teardown);
      upstream.on('error', teardown);
      client.on('close', teardown);
      upstream.on('close', teardown);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    proxy = new TcpProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy not listening');
    return address.port;
  }

  /** `url` with host and port replaced by the proxy's. */
  urlFor(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  /** Open connections through the proxy. */
  get connections(): number {
    return this.#pairs.size;
  }

  /** Drops every open connection abruptly. */
  cut(): void {
    for (const [client, upstream] of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.#pairs.clear();
  }

  /**
   * The broker stops answering: bytes from the broker to the client are held back on every open connection
   * (a hung broker or a black-holed network), while the client's bytes still go through.
   */
  silence(): void {
    for (const [client, upstream] of this.#pairs) {
      upstream.unpipe(client);
      upstream.pause();
    }
  }

  /** While true, new connections are closed at once (the broker looks down). */
  refuse(refusing: boolean): void {
    this.#refusing = refusing;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
