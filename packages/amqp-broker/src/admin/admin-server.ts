/**
 * The management listener: RabbitMQ's management HTTP API (`/api/…`), Prometheus metrics (`/metrics`)
 * and the web admin page (`/`) over one fastify instance, HTTP or HTTPS; optionally a second, metrics-only
 * listener (RabbitMQ's 15692). Every `/api` request needs HTTP Basic credentials.
 */
import { hostname } from 'node:os';
import { Lifecycle, runCloseSteps } from '@dispatcher/core';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { BrokerError } from '../errors.js';
import { resolveUiDir } from '../ui-assets.js';
import { authorise, isManagementUser } from './admin-access.js';
import { type AdminAuthenticator, type AdminUser, userStoreAuthenticator } from './admin-authenticator.js';
import type { AdminContext } from './admin-context.js';
import { adminGuard } from './admin-guard.js';
import { AdminHttpError } from './admin-http-error.js';
import { ADMIN_SERVER_DEFAULTS, type AdminServerOptions } from './admin-server-options.js';
import { createBrokerMetrics } from './metrics/broker-metrics.js';
import { registerMetricsRoutes } from './metrics/metrics-routes.js';
import { registerBindingRoutes } from './routes/binding-routes.js';
import { registerConnectionRoutes } from './routes/connection-routes.js';
import { registerDefinitionRoutes } from './routes/definition-routes.js';
import { registerExchangeRoutes } from './routes/exchange-routes.js';
import { registerOverviewRoutes } from './routes/overview-routes.js';
import { registerPermissionRoutes } from './routes/permission-routes.js';
import { registerQueueRoutes } from './routes/queue-routes.js';
import { registerTopicPermissionRoutes } from './routes/topic-permission-routes.js';
import { registerUiRoutes } from './routes/ui-routes.js';
import { registerUserRoutes } from './routes/user-routes.js';
import { registerVhostRoutes } from './routes/vhost-routes.js';
import { StatsSampler } from './stats/stats-sampler.js';

const REALM = 'Basic realm="RabbitMQ Management"';

/**
 * The package's `dist/ui/`, from `dist/` and from `src/` alike (under tsx, `../ui/` from this file would be
 * the page's source, `src/ui/`, which a browser cannot run).
 */
const DEFAULT_UI_DIR = resolveUiDir();

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the Basic authentication hook on `/api` requests. */
    adminUser?: AdminUser;
  }
}

function basicCredentials(header: string | undefined): { name: string; password: string } | undefined {
  if (header === undefined || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { name: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export class AdminServer extends Lifecycle {
  readonly #options: AdminServerOptions & typeof ADMIN_SERVER_DEFAULTS;
  readonly #stats: StatsSampler;
  readonly #app: FastifyInstance;
  #metricsApp: FastifyInstance | undefined;
  #port = 0;
  #prometheusPort: number | undefined;

  constructor(options: AdminServerOptions) {
    super(options.logger?.child({ component: 'amqp-broker-admin' }));
    const o = { ...ADMIN_SERVER_DEFAULTS, ...withoutUndefined(options) } as AdminServerOptions &
      typeof ADMIN_SERVER_DEFAULTS;
    validate(o);
    this.#options = o;
    this.#stats = new StatsSampler(o.broker, o.statsIntervalMs);
    const authenticator: AdminAuthenticator = o.authenticator ?? userStoreAuthenticator(o.broker.users);
    const ctx: AdminContext = {
      broker: o.broker,
      stats: this.#stats,
      authenticator,
      nodeName: o.nodeName ?? `dispatchd@${hostname()}`,
      managementPort: () => this.#port,
      prometheusPort: () => this.#prometheusPort,
      tls: o.tls !== undefined,
    };
    const metrics = createBrokerMetrics(ctx);
    this.#app = this.#build(o.tls, (app) => {
      app.addHook('onRequest', adminGuard(o.servedHosts));
      app.addHook('onRequest', async (request, reply) => this.#authenticate(authenticator, request, reply));
      app.addHook('preHandler', async (request) => {
        if (request.adminUser !== undefined) authorise(ctx, request);
      });
      registerOverviewRoutes(app, ctx);
      registerVhostRoutes(app, ctx);
      registerExchangeRoutes(app, ctx);
      registerQueueRoutes(app, ctx);
      registerBindingRoutes(app, ctx);
      registerConnectionRoutes(app, ctx);
      registerDefinitionRoutes(app, ctx);
      registerUserRoutes(app, ctx);
      registerPermissionRoutes(app, ctx);
      registerTopicPermissionRoutes(app, ctx);
      registerMetricsRoutes(app, metrics);
      registerUiRoutes(app, o.uiDir ?? DEFAULT_UI_DIR);
    });
    if (o.prometheusPort !== undefined) {
      this.#metricsApp = this.#build(undefined, (app) => registerMetricsRoutes(app, metrics));
    }
  }

  /** The fastify instance of the management listener (for `inject()` in tests). */
  get app(): FastifyInstance {
    return this.#app;
  }

  /** The management listener's port (after `start()`). */
  get port(): number {
    return this.#port;
  }

  /** The Prometheus listener's port (after `start()`), when configured. */
  get prometheusPort(): number | undefined {
    return this.#prometheusPort;
  }

  /** The message-rate sampler (tests may take a sample at once with `sample()`). */
  get stats(): StatsSampler {
    return this.#stats;
  }

  #build(tls: AdminServerOptions['tls'], register: (app: FastifyInstance) => void): FastifyInstance {
    const app = Fastify({
      bodyLimit: this.#options.bodyLimitBytes,
      routerOptions: { maxParamLength: 4096, ignoreTrailingSlash: true },
      ...(tls === undefined
        ? {}
        : { https: { cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}) } }),
    }) as unknown as FastifyInstance;
    // RabbitMQ reads every body as JSON whatever its content type (curl sends form-encoded by default).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
      const text = String(body);
      if (text.trim() === '') {
        done(null, undefined);
        return;
      }
      try {
        done(null, JSON.parse(text));
      } catch {
        done(new AdminHttpError(400, 'bad_request', 'not_json'), undefined);
      }
    });
    app.setErrorHandler(async (err: unknown, request, reply) => {
      if (err instanceof AdminHttpError) {
        return reply.code(err.statusCode).send({ error: err.error, reason: err.reason });
      }
      const status = (err as { statusCode?: number }).statusCode;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        return reply.code(status).send({ error: 'bad_request', reason: (err as Error).message });
      }
      this.log.error({ err, url: request.url, method: request.method }, 'management request failed');
      return reply.code(500).send({ error: 'internal_server_error', reason: (err as Error).message });
    });
    app.setNotFoundHandler(async (_request, reply) =>
      reply.code(404).send({ error: 'Object Not Found', reason: 'Not Found' }),
    );
    register(app);
    return app;
  }

  async #authenticate(auth: AdminAuthenticator, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (!request.url.startsWith('/api/') || reply.sent) return;
    const credentials = basicCredentials(request.headers.authorization);
    if (credentials === undefined) {
      await reply.code(401).header('www-authenticate', REALM).send();
      return;
    }
    const user = await auth.authenticate(credentials.name, credentials.password);
    if (user === undefined) {
      await reply
        .code(401)
        .header('www-authenticate', REALM)
        .send({ error: 'not_authorized', reason: 'Login failed' });
      return;
    }
    // A good login without a management tag: RabbitMQ's 401, without a challenge (the password was right).
    if (!isManagementUser(user)) {
      await reply.code(401).send({ error: 'not_authorised', reason: 'Not management user' });
      return;
    }
    request.adminUser = user;
  }

  protected async onStart(): Promise<void> {
    const o = this.#options;
    this.#port = await this.#listen(this.#app, o.port, 'management');
    if (this.#metricsApp !== undefined) {
      this.#prometheusPort = await this.#listen(this.#metricsApp, o.prometheusPort ?? 0, 'prometheus');
    }
    this.#stats.start();
  }

  async #listen(app: FastifyInstance, port: number, what: string): Promise<number> {
    const host = this.#options.host;
    try {
      await app.listen({ port, host });
    } catch (err) {
      throw new BrokerError(
        'DSP_BROKER_ADMIN_LISTEN_FAILED',
        `cannot listen for ${what} on ${host}:${port}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const address = app.server.address();
    const bound = typeof address === 'object' && address !== null ? address.port : port;
    this.log.info(
      { host, port: bound, tls: this.#options.tls !== undefined && what === 'management' },
      `${what} listening`,
    );
    return bound;
  }

  protected async onClose(): Promise<void> {
    await runCloseSteps(this.log, [
      ['stop sampling', () => this.#stats.stop()],
      ['close the prometheus listener', () => this.#metricsApp?.close()],
      ['close the management listener', () => this.#app.close()],
    ]);
  }

  protected onDestroy(err?: Error): void {
    if (err !== undefined) this.log.error({ err }, 'management listener destroyed');
    this.#stats.stop();
    void this.#metricsApp?.close();
    void this.#app.close();
  }
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validate(o: AdminServerOptions & typeof ADMIN_SERVER_DEFAULTS): void {
  const port = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 65535)) {
      throw new BrokerError('DSP_BROKER_INVALID_ARGUMENT', `${name} must be 0..65535, got ${v}`);
    }
  };
  port('port', o.port);
  port('prometheusPort', o.prometheusPort);
  if (!(Number.isInteger(o.statsIntervalMs) && o.statsIntervalMs > 0)) {
    throw new BrokerError(
      'DSP_BROKER_INVALID_ARGUMENT',
      `statsIntervalMs must be a positive integer, got ${o.statsIntervalMs}`,
    );
  }
}
