/**
 * The store-and-forward HTTP proxy: fastify takes requests in, the durable log keeps them, the delivery
 * engine sends them on with undici.
 *
 *   start(): open logs ─▶ recover pending (in acceptance order) ─▶ schedule ─▶ listen
 *   request: control headers ─▶ policy ─▶ admission ─▶ durable append ─▶ 202 {id} ─▶ schedule
 *   close(): stop intake (503) ─▶ finish attempts in flight up to shutdownTimeoutMs ─▶ flush logs
 *   destroy(err?): cut connections, abort attempts in flight, release the stores (no drain)
 *
 * States and their transitions are core's `Lifecycle`; calls on a proxy that is not running reject with
 * `DSP_PROXY_CLOSED`.
 */

import { randomBytes } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import {
  type DispatcherError,
  Lifecycle,
  type Logger,
  noopLogger,
  runCloseSteps,
  type StartOptions,
  settleWithin,
  throwIfAborted,
} from '@dispatcher/core';
import { createDestinationPolicy, createSafeConnector, type DestinationPolicy } from '@dispatcher/core/http';
import Fastify, { type FastifyInstance } from 'fastify';
import { Agent } from 'undici';
import { adminGuard, adminResponseHeaders } from './admin/admin-auth.js';
import type { AdminStore } from './admin/admin-store.js';
import { registerDeadLetterRoutes } from './admin/dead-letter-routes.js';
import { EmbeddedAdminStore } from './admin/embedded-admin-store.js';
import { registerHealthRoutes } from './admin/health-routes.js';
import { registerMessageRoutes } from './admin/message-routes.js';
import { DeliveryEngine, type DeliveryEvent } from './delivery/delivery-engine.js';
import { DeliveryThreads } from './delivery/delivery-threads.js';
import { EmbeddedEngineStore } from './delivery/engine-store.js';
import type { PgWorkSource } from './delivery/pg-work-source.js';
import { ProxyError } from './errors.js';
import { hasDestinationHeader } from './ingest/dispatch-headers.js';
import { createIngestHandler } from './ingest/ingest-handler.js';
import { replyError, replyErrorOnSocket } from './ingest/json-reply.js';
import { type RequestRefusal, unsupportedRequest } from './ingest/request-form.js';
import type { ProxyContext } from './proxy-context.js';
import { ProxyMetrics } from './proxy-metrics.js';
import { type HttpProxyOptions, type ResolvedProxyOptions, resolveProxyOptions } from './proxy-options.js';
import type { PgStore } from './store/pg/pg-store.js';
import { ProxyStore } from './store/proxy-store.js';
import { isStorageFailure, STORAGE_RETRY_AFTER_S } from './store/storage-failure.js';
import type { StoredRequest } from './store/stored-request.js';

const IDEMPOTENCY_SWEEP_MS = 60_000;
const DISK_CHECK_MS = 1_000;
/** Longest interval between node:http's checks for requests past their header or request timeout. */
const TIMEOUT_CHECK_MS = 1_000;

export class HttpProxy extends Lifecycle {
  readonly #opts: ResolvedProxyOptions;
  /** The caller's logger: sub-components make their own `component` child from it (no duplicate keys). */
  readonly #baseLog: Logger;
  readonly metrics = new ProxyMetrics();
  readonly #policy: DestinationPolicy;
  /** Requests whose body is still arriving (see #closeHttp). */
  readonly #receiving = new Set<IncomingMessage>();
  #store: ProxyStore | undefined;
  /** The PostgreSQL store and what feeds the engine from it (fleet mode), instead of `#store`. */
  #pg: PgStore | undefined;
  #source: PgWorkSource | undefined;
  /** What the admin routes read and change, over whichever store is in use. */
  #admin: AdminStore | undefined;
  /**
   * Fleet-wide backlog for admission control: the rows counted at the last refresh (every second) plus the
   * requests this instance stored since, so a burst cannot pass `maxBacklog` between two refreshes.
   */
  #pgBacklog = { counted: 0, since: 0 };
  #engine: DeliveryEngine | undefined;
  #agent: Agent | undefined;
  /** Outbound calls on worker threads (`deliveryThreads` > 0); the engine uses `#agent` when there are none. */
  #threads: DeliveryThreads | undefined;
  #app: FastifyInstance | undefined;
  #url: string | undefined;
  #timers: NodeJS.Timeout[] = [];
  #freeDiskBytes = Number.POSITIVE_INFINITY;
  /** The immediate release (`destroy()`, a failed start), run once. */
  #released: Promise<void> | undefined;
  #starting = false;
  #destroyedWhileStarting = false;

  constructor(options: HttpProxyOptions) {
    const baseLog = options.logger ?? noopLogger;
    super(baseLog.child({ component: 'http-proxy' }));
    this.#opts = resolveProxyOptions(options);
    this.#baseLog = baseLog;
    this.#policy = createDestinationPolicy({ allowed: this.#opts.allowedDestinations ?? [] });
  }

  /** `http://host:port` once listening. */
  get url(): string {
    if (!this.#url) throw new ProxyError('DSP_PROXY_CLOSED', 'the proxy is not listening');
    return this.#url;
  }

  get store(): ProxyStore {
    if (!this.#store) throw new ProxyError('DSP_PROXY_CLOSED', 'the proxy is not started');
    return this.#store;
  }

  get engine(): DeliveryEngine {
    if (!this.#engine) throw new ProxyError('DSP_PROXY_CLOSED', 'the proxy is not started');
    return this.#engine;
  }

  /** The PostgreSQL store, in fleet mode. */
  get pg(): PgStore | undefined {
    return this.#pg;
  }

  /**
   * Opens the store, recovers what is pending, and listens. `signal` cancels a start still opening or
   * recovering; a start that fails (or is cancelled) releases everything it opened and leaves the proxy closed.
   */
  protected override async onStart({ signal }: StartOptions): Promise<void> {
    this.#starting = true;
    try {
      if (this.#opts.postgres) await this.#openPostgres();
      else await this.#openEmbedded();
      this.#mayGoOn(signal);
      this.#app = this.#buildApp();
      await this.#app.listen({
        port: this.#opts.port,
        ...(this.#opts.host ? { host: this.#opts.host } : { host: '::' }),
      });
      this.#mayGoOn(signal);
      const address = this.#app.server.address() as AddressInfo;
      const host =
        address.family === 'IPv6'
          ? `[${address.address === '::' ? '::1' : address.address}]`
          : address.address === '0.0.0.0'
            ? '127.0.0.1'
            : address.address;
      this.#url = `http://${host}:${address.port}`;
      this.#startTimers();
      this.log.info({ url: this.#url }, 'listening');
    } catch (err) {
      // Released before start() rejects, so the caller may start another proxy on the same data directory.
      await this.#release();
      throw err;
    } finally {
      this.#starting = false;
    }
  }

  /** Between the steps of a start: stop if it was cancelled, or if the proxy was destroyed meanwhile. */
  #mayGoOn(signal: AbortSignal | undefined): void {
    throwIfAborted(signal);
    if (this.#destroyedWhileStarting)
      throw new ProxyError('DSP_PROXY_CLOSED', 'the proxy was destroyed while starting');
  }

  protected override closedError(): DispatcherError {
    return new ProxyError('DSP_PROXY_CLOSED', `the proxy is ${this.state}`);
  }

  #createAgent(): Agent {
    if (this.#opts.deliveryThreads > 0)
      this.#threads = new DeliveryThreads({
        threads: this.#opts.deliveryThreads,
        allowedDestinations: this.#opts.allowedDestinations,
        connections: Math.max(8, this.#opts.delivery.workers),
        logger: this.#baseLog,
      });
    return new Agent({
      connect: createSafeConnector(this.#policy),
      keepAliveTimeout: 30_000,
      connections: Math.max(8, this.#opts.delivery.workers),
    });
  }

  /** Fleet mode: state in PostgreSQL, work claimed from it (see `PgStore`). */
  async #openPostgres(): Promise<void> {
    const p = this.#opts.postgres as NonNullable<ResolvedProxyOptions['postgres']>;
    // Loaded only in fleet mode: the embedded default does not pay for the driver at start-up.
    const [{ PgStore }, { PgWorkSource }, { PgAdminStore }] = await Promise.all([
      import('./store/pg/pg-store.js'),
      import('./delivery/pg-work-source.js'),
      import('./admin/pg-admin-store.js'),
    ]);
    const pg = await PgStore.open({
      ...p,
      instanceId: p.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
      logger: this.#baseLog,
    });
    this.#pg = pg;
    this.#admin = new PgAdminStore(pg);
    this.#agent = this.#createAgent();
    await this.#threads?.ready();
    const source = new PgWorkSource(pg, this.#opts.delivery, this.#baseLog, {
      ...(p.pollMs === undefined ? {} : { pollMs: p.pollMs }),
      ...(p.leaseMs === undefined ? {} : { renewMs: Math.max(100, Math.floor(p.leaseMs / 3)) }),
    });
    this.#source = source;
    this.#engine = new DeliveryEngine(this.#opts.delivery, {
      store: source,
      dispatcher: this.#agent,
      ...(this.#threads ? { threads: this.#threads } : {}),
      logger: this.#baseLog,
      metrics: this.metrics,
      sendCallback: (url, event) => this.#sendCallback(url, event),
    });
    source.start(this.#engine);
  }

  async #openEmbedded(): Promise<void> {
    const store = await ProxyStore.open({
      dir: this.#opts.dataDir,
      ...(this.#opts.deadLetterDir ? { deadLetterDir: this.#opts.deadLetterDir } : {}),
      eventSourcing: this.#opts.eventSourcing,
      maxIdempotencyKeys: this.#opts.maxIdempotencyKeys,
      maxDeadLetterIds: this.#opts.maxDeadLetterIds,
      maxDeliveredIds: this.#opts.maxDeliveredIds,
      preallocateBytes: this.#opts.preallocateBytes,
      syncMethod: this.#opts.syncMethod,
      ...(this.#opts.fsync ? { fsync: this.#opts.fsync } : {}),
      logger: this.#baseLog,
    });
    this.#store = store;
    for (const [name, log] of [
      ['transaction log', store.main],
      ['dead-letter log', store.dead],
      ['delivery journal', store.journal.log],
    ] as const) {
      const r = log.recovery;
      if (r.truncated.length > 0 || r.corrupt.length > 0 || r.removedFiles.length > 0) {
        this.log.warn(
          { log: name, truncated: r.truncated, corrupt: r.corrupt, removed: r.removedFiles },
          `${name} repaired at start-up`,
        );
      }
    }
    this.#agent = this.#createAgent();
    await this.#threads?.ready();
    this.#engine = new DeliveryEngine(this.#opts.delivery, {
      store: new EmbeddedEngineStore(store, this.#baseLog.child({ component: 'delivery' })),
      dispatcher: this.#agent,
      ...(this.#threads ? { threads: this.#threads } : {}),
      logger: this.#baseLog,
      metrics: this.metrics,
      sendCallback: (url, event) => this.#sendCallback(url, event),
    });
    const engine = this.#engine;
    this.#admin = new EmbeddedAdminStore({
      store,
      isInflight: (seq) => engine.isInflight(seq),
      enqueue: (build, now) => this.#enqueue(build, now),
    });
    const pending = await store.recover(Date.now(), (p) => {
      engine.enqueue(
        p.seq,
        p.request.target,
        p.attempt ? p.attempt.nextAt : (p.request.message.notBefore ?? 0),
      );
    });
    this.log.info({ pending, deadLetters: store.deadLetterCount }, 'recovered');
  }

  /** Graceful: stop intake, let attempts in flight finish (up to `shutdownTimeoutMs`), flush, close. */
  protected override async onClose(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    await runCloseSteps(this.log, [
      ['http', () => this.#closeHttp()],
      ['claims', () => this.#source?.stop()],
      ['delivery', () => this.#engine?.stop(this.#opts.shutdownTimeoutMs)],
      ['agent', () => this.#agent?.close()],
      ['delivery threads', () => this.#threads?.close()],
      ['store', () => this.#store?.close()],
      // Hands back the leases of requests not finished: other instances take them at once.
      ['postgres', () => this.#pg?.close()],
    ]);
    this.log.info('closed');
  }

  /** Immediate: connections cut, attempts in flight aborted (they stay pending), stores released. */
  protected override onDestroy(err?: Error): void {
    // A failed start has released everything already, and its caller gets the error.
    if (this.#released) return;
    this.log.warn({ err }, 'destroyed');
    // A start still opening things releases them itself, at its next step (it rejects then).
    if (this.#starting) this.#destroyedWhileStarting = true;
    else void this.#release();
  }

  /** Releases everything at once; shared by `destroy()` and a failed start. Never rejects. */
  #release(): Promise<void> {
    this.#released ??= (async () => {
      for (const t of this.#timers) clearInterval(t);
      this.#app?.server.closeAllConnections();
      await runCloseSteps(this.log, [
        ['http', () => this.#app?.close()],
        // Recovery may already have started deliveries (e.g. the port was taken): stop them before the log.
        ['delivery', () => this.#engine?.stop(0)],
        ['agent', () => this.#agent?.destroy()],
        ['delivery threads', () => this.#threads?.close()],
        ['claims', () => this.#source?.stop()],
        ['store', () => this.#store?.close()],
        ['postgres', () => this.#pg?.close()],
      ]);
    })();
    return this.#released;
  }

  /**
   * Stops intake. Requests being received (a slow upload) get `shutdownTimeoutMs` to finish; then their
   * connections are cut: nothing was promised to them yet. Requests already received are left to finish.
   */
  async #closeHttp(): Promise<void> {
    const app = this.#app;
    if (!app) return;
    const closed = app.close();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), this.#opts.shutdownTimeoutMs);
    });
    try {
      if ((await Promise.race([closed, deadline])) === 'late') {
        const cut = [...this.#receiving].filter((req) => !req.complete);
        this.log.warn(
          { requests: cut.length },
          'uploads still running at the shutdown deadline; cutting them off',
        );
        for (const req of cut) req.socket.destroy();
        // What remains is being stored and answered (one group commit); anything else is cut after a grace.
        if (!(await settleWithin(closed, 2_000))) app.server.closeAllConnections();
        await closed;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  #startTimers(): void {
    if (this.#pg) {
      const pg = this.#pg;
      const sweep = setInterval(() => {
        pg.sweep().catch((err: unknown) => this.log.warn({ err }, 'retention sweep failed'));
      }, IDEMPOTENCY_SWEEP_MS);
      const count = setInterval(() => {
        const since = this.#pgBacklog.since;
        pg.backlog().then(
          (n) => {
            this.#pgBacklog = { counted: n, since: this.#pgBacklog.since - since };
          },
          (err: unknown) => this.log.debug({ err }, 'backlog count failed'),
        );
      }, DISK_CHECK_MS);
      sweep.unref();
      count.unref();
      this.#timers.push(sweep, count);
      return;
    }
    const sweep = setInterval(() => {
      this.#store
        ?.expireIdempotency(Date.now())
        .catch((err: unknown) => this.log.error({ err }, 'idempotency sweep failed'));
    }, IDEMPOTENCY_SWEEP_MS);
    const disk = setInterval(() => void this.#checkDisk(), DISK_CHECK_MS);
    sweep.unref();
    disk.unref();
    this.#timers.push(sweep, disk);
    void this.#checkDisk();
  }

  async #checkDisk(): Promise<void> {
    try {
      const s = await statfs(this.#opts.dataDir);
      this.#freeDiskBytes = s.bavail * s.bsize;
    } catch (err) {
      this.log.warn({ err }, 'cannot read free disk space');
    }
  }

  #overloaded(): string | undefined {
    if (this.#pg) {
      const n = this.#pgBacklog.counted + this.#pgBacklog.since;
      if (n >= this.#opts.maxBacklog) return `backlog of ${n} requests reached maxBacklog`;
      if (this.#opts.maxRssBytes !== undefined && process.memoryUsage.rss() > this.#opts.maxRssBytes)
        return 'memory use above maxRssBytes';
      return undefined;
    }
    const engine = this.#engine;
    if (engine && engine.backlog >= this.#opts.maxBacklog)
      return `backlog of ${engine.backlog} requests reached maxBacklog`;
    if (this.#freeDiskBytes < this.#opts.minFreeDiskBytes)
      return `free disk space below ${this.#opts.minFreeDiskBytes} bytes`;
    if (this.#opts.maxRssBytes !== undefined && process.memoryUsage.rss() > this.#opts.maxRssBytes)
      return 'memory use above maxRssBytes';
    return undefined;
  }

  async #enqueue(
    build: (id: string) => StoredRequest,
    now: number,
    idempotencyKey?: string,
  ): Promise<{ id: string; replay: boolean }> {
    const idem = idempotencyKey
      ? { key: idempotencyKey, windowMs: this.#opts.idempotencyWindowMs }
      : undefined;
    if (this.#pg) {
      if (this.state === 'closing' || this.state === 'closed')
        throw new ProxyError('DSP_PROXY_CLOSED', 'the dispatcher is shutting down');
      const accepted = await this.#pg.accept(build, now, idem);
      if (!accepted.replay) {
        this.metrics.accepted.inc();
        this.#pgBacklog.since++;
      }
      // NOTIFY wakes every instance; this one need not wait for it.
      this.#source?.wake();
      return { id: accepted.id, replay: accepted.replay };
    }
    const store = this.store;
    const { seq, id, request } = await store.accept(build, now, idem);
    this.metrics.accepted.inc();
    const due = request.message.notBefore ?? 0;
    this.engine.enqueue(seq, request.target, due, request);
    return { id, replay: false };
  }

  /** A callback is a request of its own: durable, retried, dead-lettered like any other. */
  async #sendCallback(url: string, event: DeliveryEvent): Promise<void> {
    const now = Date.now();
    const body = Buffer.from(JSON.stringify({ ...event, at: new Date(event.at).toISOString() }));
    await this.#enqueue(
      (id) => ({
        message: { id, body, headers: { 'content-type': 'application/json' }, attempt: 0, createdAt: now },
        method: 'POST',
        target: url,
        kind: 'callback',
      }),
      now,
    );
  }

  #context(): ProxyContext {
    const self = this;
    return {
      opts: this.#opts,
      get store() {
        return self.store;
      },
      get engine() {
        return self.engine;
      },
      metrics: this.metrics,
      policy: this.#policy,
      get pg() {
        return self.#pg;
      },
      get admin() {
        if (!self.#admin) throw new ProxyError('DSP_PROXY_CLOSED', 'the proxy is not started');
        return self.#admin;
      },
      enqueue: (build, now, key) => this.#enqueue(build, now, key),
      overloaded: () => this.#overloaded(),
      storageUnavailable: () => {
        const down = this.#pg?.unavailable;
        if (down) return `the database cannot be reached: ${down.message}`;
        const err = this.#store?.writeError;
        return err ? `the store cannot write (${err.code}): ${err.message}` : undefined;
      },
      get closing() {
        return self.state === 'closing' || self.state === 'closed';
      },
    };
  }

  /**
   * node:http under fastify: refuses request forms it cannot store, sends requests with a destination header
   * down the lean ingest path and the rest to fastify, and closes connections of slow clients.
   */
  #createServer(fastifyHandler: RequestListener, ingest: RequestListener): Server {
    const server = createServer(
      {
        headersTimeout: this.#opts.headersTimeoutMs,
        requestTimeout: this.#opts.requestTimeoutMs,
        // node:http looks for expired requests every 30 s by default: a slow client would get that
        // much longer than its timeout.
        connectionsCheckingInterval: Math.max(
          1,
          Math.min(TIMEOUT_CHECK_MS, Math.floor(this.#opts.headersTimeoutMs / 4)),
        ),
      },
      (req, res) => {
        const refusal = unsupportedRequest(req);
        if (refusal) {
          this.metrics.rejected.inc({ reason: refusal.error });
          replyError(res, refusal.status, refusal.error, refusal.message, { connection: 'close' });
          req.resume();
          return;
        }
        // Tracked until the body is in, so a shutdown deadline cuts only uploads, never a request that
        // is already being stored (cutting that one could make its client send it again).
        this.#receiving.add(req);
        req.once('end', () => this.#receiving.delete(req));
        req.once('close', () => this.#receiving.delete(req));
        if (hasDestinationHeader(req.headers)) ingest(req, res);
        else fastifyHandler(req, res);
      },
    );
    // Without a listener node:http drops a CONNECT's socket without a word: answer it instead.
    server.on('connect', (req: IncomingMessage, socket: Duplex) => {
      const refusal = unsupportedRequest(req) as RequestRefusal;
      this.metrics.rejected.inc({ reason: refusal.error });
      replyErrorOnSocket(socket, refusal.status, refusal.error, refusal.message);
    });
    return server;
  }

  #buildApp(): FastifyInstance {
    const ctx = this.#context();
    const ingest = createIngestHandler(ctx);
    const app = Fastify({
      logger: false,
      bodyLimit: this.#opts.maxBodyBytes,
      return503OnClosing: true,
      forceCloseConnections: 'idle',
      // Requests that carry a destination header take the lean ingest path, whatever their path (the
      // admin prefix included); fastify serves the rest.
      serverFactory: (fastifyHandler) => this.#createServer(fastifyHandler, ingest),
    });
    // Bodies are forwarded byte-exact, whatever their type: never parse them.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
      if (ProxyError.hasCode(err, 'DSP_PROXY_NOT_FOUND'))
        return reply.code(404).send({ error: 'not_found', message: err.message });
      if (err.statusCode === 413) {
        this.metrics.rejected.inc({ reason: 'too_large' });
        return reply.code(413).send({
          error: 'payload_too_large',
          message: `request body exceeds ${this.#opts.maxBodyBytes} bytes`,
        });
      }
      if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
        return reply.code(err.statusCode).send({ error: 'bad_request', message: err.message });
      }
      if (err.code === 'DSP_CORE_CLOSED')
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ error: 'closing', message: 'the dispatcher is shutting down' });
      if (isStorageFailure(err)) {
        this.log.warn({ err }, 'request not stored: the store cannot write');
        return reply
          .code(503)
          .header('retry-after', STORAGE_RETRY_AFTER_S)
          .send({ error: 'storage_unavailable', message: `the request was not stored: ${err.message}` });
      }
      this.log.error({ err }, 'request failed');
      return reply.code(500).send({ error: 'internal_error', message: 'the request was not stored' });
    });
    app.addHook('onRequest', adminResponseHeaders);
    const guard = adminGuard(this.#opts.adminToken, this.#opts.adminHosts);
    registerHealthRoutes(app, ctx, guard);
    registerMessageRoutes(app, ctx, guard);
    registerDeadLetterRoutes(app, ctx, guard);
    app.all('/*', async (_req, reply) => {
      this.metrics.rejected.inc({ reason: 'missing_destination' });
      return reply.code(400).send({
        error: 'missing_destination',
        message:
          'set X-Dispatcher-Origin-Host (or X-Dispatcher-Original-Host) to the destination base URL, e.g. https://api.example.com',
      });
    });
    return app;
  }
}
