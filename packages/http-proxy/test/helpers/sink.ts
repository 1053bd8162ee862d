/**
 * A real HTTP destination for tests: records every request it receives and answers according to a
 * programmable behaviour (status, Retry-After, hang, a body that stalls, connection reset).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  at: number;
}

export type Behaviour =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'hang' }
  /** Status and headers at once, then part of a body, and nothing more. */
  | { kind: 'stall-body'; status: number }
  | { kind: 'delay'; ms: number; status: number }
  | { kind: 'reset' };

export class Sink {
  readonly received: Received[] = [];
  /** Decides the answer to each request; default 200. */
  behave: (req: Received, index: number) => Behaviour = () => ({ kind: 'status', status: 200 });
  #server: Server;
  #hung: ServerResponse[] = [];
  #waiters: Array<{ n: number; resolve: () => void }> = [];
  url = '';
  host = '';

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rec: Received = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
          at: Date.now(),
        };
        const index = this.received.push(rec) - 1;
        for (const w of [...this.#waiters]) {
          if (this.received.length >= w.n) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve();
          }
        }
        const b = this.behave(rec, index);
        switch (b.kind) {
          case 'status':
            res.writeHead(b.status, b.headers);
            res.end(b.body ?? '');
            break;
          case 'hang':
            this.#hung.push(res);
            break;
          case 'stall-body':
            this.#hung.push(res);
            res.writeHead(b.status, { 'content-length': '100' });
            res.write('partial');
            break;
          case 'delay':
            this.#hung.push(res);
            setTimeout(() => {
              res.writeHead(b.status);
              res.end();
            }, b.ms);
            break;
          case 'reset':
            req.socket.destroy();
            break;
        }
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as AddressInfo;
    this.host = `127.0.0.1:${port}`;
    this.url = `http://${this.host}`;
    return this;
  }

  /** Resolves once `n` requests in all have arrived (rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    if (this.received.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`sink got ${this.received.length} of ${n} requests in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Answers the requests left hanging so far with `status`. */
  release(status = 200): void {
    for (const res of this.#hung.splice(0)) {
      if (res.headersSent || res.destroyed) continue;
      res.writeHead(status);
      res.end();
    }
  }

  async close(): Promise<void> {
    for (const res of this.#hung) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
