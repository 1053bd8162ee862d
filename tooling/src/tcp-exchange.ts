import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

/** Options for {@link tcpExchange}. */
export interface TcpExchangeOptions {
  host: string;
  port: number;
  /** Bytes written as soon as the connection is established. */
  send: string | Uint8Array;
  /** Called with everything received so far; resolve once it returns true. */
  until: (received: Buffer) => boolean;
  /** Overall deadline for connect + reply (default 5 s). */
  timeoutMs?: number;
  /** Use TLS (for `amqps:` URLs); the certificate is not verified because only reachability is tested. */
  tls?: boolean;
  signal?: AbortSignal;
}

/**
 * Opens a connection, sends one request and collects the reply until `until` is satisfied, then closes.
 *
 * This is the raw-socket probe used for readiness checks (redis `PING`, beanstalkd `stats`, the AMQP
 * protocol header), so the tooling package needs no client libraries.
 *
 * @returns All bytes received.
 * @throws When the connection fails, closes early, or the deadline passes; the message says which.
 */
export async function tcpExchange(options: TcpExchangeOptions): Promise<Buffer> {
  const { host, port, send, until, timeoutMs = 5_000, tls = false, signal } = options;
  signal?.throwIfAborted();
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket: Socket = tls
      ? connectTls({ host, port, servername: host, rejectUnauthorized: false })
      : connectTcp({ host, port });
    const finish = (error: Error | undefined, value?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve(value ?? Buffer.alloc(0));
    };
    const onAbort = (): void =>
      finish(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    const timer = setTimeout(
      () => finish(new Error(`no complete reply from ${host}:${port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once(tls ? 'secureConnect' : 'connect', () => socket.write(send));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const received = Buffer.concat(chunks);
      if (until(received)) finish(undefined, received);
    });
    socket.once('error', (error) => finish(error));
    socket.once('close', () =>
      finish(
        new Error(
          `connection to ${host}:${port} closed after ${Buffer.concat(chunks).length} bytes without a complete reply`,
        ),
      ),
    );
  });
}
