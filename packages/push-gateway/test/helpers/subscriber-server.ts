import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** One request a test subscriber received. */
export interface ReceivedPush {
  readonly path: string;
  readonly query: URLSearchParams;
  readonly form: URLSearchParams;
  /** Raw request body. */
  readonly body: string;
  readonly headers: IncomingMessage['headers'];
  readonly at: number;
}

/** Decides the answer: status, body, headers; `hang` never answers. */
export type Answer = { status?: number; body?: string; headers?: Record<string, string>; hang?: boolean };

/** A real HTTP subscriber on 127.0.0.1 that records every push and answers as `answer` says. */
export class SubscriberServer {
  readonly received: ReceivedPush[] = [];
  answer: (push: ReceivedPush, index: number) => Answer = () => ({ status: 200, body: '{"status":1}' });
  readonly #server: Server;
  readonly #hanging = new Set<ServerResponse>();

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<SubscriberServer> {
    let self: SubscriberServer | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => self?.handle(req, res, Buffer.concat(chunks).toString()));
    });
    server.keepAliveTimeout = 30_000;
    self = new SubscriberServer(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return self;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  /** Pushes per `jobid` form field. */
  countsByJobId(): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.received) {
      const id = r.form.get('jobid') ?? '';
      m.set(id, (m.get(id) ?? 0) + 1);
    }
    return m;
  }

  private handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const push: ReceivedPush = {
      path: url.pathname,
      query: url.searchParams,
      form: new URLSearchParams(body),
      body,
      headers: req.headers,
      at: Date.now(),
    };
    const index = this.received.length;
    this.received.push(push);
    const a = this.answer(push, index);
    if (a.hang) {
      this.#hanging.add(res);
      return;
    }
    res.writeHead(a.status ?? 200, { 'content-type': 'application/json', ...a.headers });
    res.end(a.body ?? '');
  }

  /** Drops the connections of the pushes left hanging (the gateway sees a failed push). */
  dropHanging(): void {
    for (const res of this.#hanging) res.destroy();
    this.#hanging.clear();
  }

  async close(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
