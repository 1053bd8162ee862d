import { DispatcherError, type Logger, noopLogger } from '@dispatcher/core';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { z } from 'zod';
import type { AlertSettingsStore } from '../alerts/alert-settings-store.js';
import { PushError, type PushErrorCode } from '../errors.js';
import type { PushStats } from '../stats/push-stats.js';
import { controlGuard } from './control-guard.js';
import type { DeadLetterAdmin, MetricsSource, QueueClearing, SubscriptionAdmin } from './control-ports.js';
import { legacyParamsPatchSchema, subscriptionIdSchema } from './legacy-params.js';

/** Options of {@link ControlServer}. */
export interface ControlServerOptions {
  subscriptions: SubscriptionAdmin;
  stats?: Pick<PushStats, 'subscription' | 'topic' | 'all'>;
  alertSettings?: AlertSettingsStore;
  clearer?: QueueClearing;
  deadLetters?: DeadLetterAdmin;
  /** Served at `GET /metrics`. */
  metrics?: MetricsSource;
  /** Bearer token for every route; without it loopback clients only. @defaultValue `undefined` */
  token?: string;
  /** Extra names (`name` or `name:port`) the API is served under besides loopback ones. @defaultValue `[]` */
  hosts?: readonly string[];
  /** Serve `/metrics` without the token (for scrapers on a trusted network). @defaultValue `false` */
  publicMetrics?: boolean;
  /** @defaultValue `'127.0.0.1'` */
  host?: string;
  /** 0 picks a free port. @defaultValue `5602` */
  port?: number;
  /** Largest request body, in bytes. @defaultValue `1048576` */
  bodyLimitBytes?: number;
  logger?: Logger;
}

/** Defaults of {@link ControlServerOptions}. */
export const CONTROL_SERVER_DEFAULTS = {
  hosts: [] as readonly string[],
  publicMetrics: false,
  host: '127.0.0.1',
  port: 5602,
  bodyLimitBytes: 1_048_576,
} as const;

/** Where the REST routes live. */
export const CONTROL_PREFIX = '/api/v1';

const STATUS: Partial<Record<PushErrorCode, number>> = {
  DSP_PUSH_INVALID_ARGUMENT: 400,
  DSP_PUSH_NOT_FOUND: 404,
  DSP_PUSH_READ_ONLY: 409,
  DSP_PUSH_CONFLICT: 409,
  DSP_PUSH_CLOSED: 503,
};

function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const detail = r.error.issues.map((i) => `${[where, ...i.path].join('.')}: ${i.message}`).join('; ');
  throw new PushError('DSP_PUSH_INVALID_ARGUMENT', detail);
}

const idParams = z.object({ id: subscriptionIdSchema });
const newSubscription = z.strictObject({
  id: subscriptionIdSchema.optional(),
  topic: z.string().min(1).max(200),
  subscriberId: z.number().int().nonnegative().optional(),
  receptionUri: z.string().min(1).max(65_536),
  enabled: z.boolean().optional(),
});
const subscriptionPatch = newSubscription.omit({ id: true }).partial();
const alertSettingsPatch = z.strictObject({
  DefaultAlarmReceiver: z.string().max(4096).optional(),
  DefaultAlarmChan: z.string().max(256).optional(),
  GlobalMessageBlockedAlertThreshold: z.number().int().nonnegative().optional(),
  GlobalMessageBlockedAlarmInterval: z.number().int().positive().optional(),
  NameOfMainQueueBlockedAlertThreshold: z.number().int().nonnegative().optional(),
});
const deadLetterParams = z.object({ id: subscriptionIdSchema, letter: z.string().min(1).max(200) });
const redriveBody = z
  .strictObject({
    body: z.unknown().optional(),
    delaySeconds: z
      .number()
      .int()
      .nonnegative()
      .max(2 ** 31)
      .optional(),
  })
  .optional();
const limitQuery = z.object({ limit: z.coerce.number().int().positive().max(1000).default(100) });

/**
 * The push gateway's REST control API (fastify): subscriptions and their parameters, statistics, alert settings,
 * clearing queues, dead letters and `/metrics`. Every error is JSON `{ error: { code, message } }`.
 */
export class ControlServer {
  readonly app: FastifyInstance;
  readonly #o: ControlServerOptions & typeof CONTROL_SERVER_DEFAULTS;
  readonly #log: Logger;
  #started = false;
  #closing: Promise<void> | undefined;

  constructor(options: ControlServerOptions) {
    this.#o = { ...CONTROL_SERVER_DEFAULTS, ...options } as ControlServerOptions &
      typeof CONTROL_SERVER_DEFAULTS;
    this.#log = (options.logger ?? noopLogger).child({ component: 'control-api' });
    this.app = Fastify({ bodyLimit: this.#o.bodyLimitBytes, return503OnClosing: true });
    this.#routes();
  }

  /** Listens; resolves with the bound port. */
  async start(): Promise<{ host: string; port: number }> {
    if (this.#closing) throw new PushError('DSP_PUSH_CLOSED', 'the control API was closed');
    if (!this.#started) {
      this.#started = true;
      await this.app.listen({ host: this.#o.host, port: this.#o.port });
    }
    const a = this.app.server.address();
    if (!a || typeof a === 'string')
      throw new PushError('DSP_PUSH_CLOSED', 'the control API is not listening');
    this.#log.info({ host: a.address, port: a.port }, 'control api listening');
    return { host: a.address, port: a.port };
  }

  /** Stops accepting and waits for requests in progress. */
  close(): Promise<void> {
    this.#closing ??= this.app.close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #routes(): void {
    const app = this.app;
    const o = this.#o;
    const guard = controlGuard(o.token, o.hosts);
    const publicGuard = controlGuard(undefined, o.hosts);
    app.addHook('onRequest', async (request, reply) => {
      if (request.url === '/metrics' && o.publicMetrics) return publicGuard(request, reply);
      return guard(request, reply);
    });
    app.setNotFoundHandler((request, reply) =>
      reply.code(404).send({
        error: { code: 'DSP_PUSH_NOT_FOUND', message: `no route ${request.method} ${request.url}` },
      }),
    );
    app.setErrorHandler((err, _request, reply) => {
      if (DispatcherError.isInstance(err)) {
        const status = STATUS[err.code as PushErrorCode] ?? 500;
        if (status >= 500) this.#log.error({ err }, 'control request failed');
        return reply.code(status).send({ error: { code: err.code, message: err.message } });
      }
      const e = err as { statusCode?: number; message?: string };
      // fastify's own errors (bad JSON, body too large) carry a 4xx statusCode.
      if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
        return reply
          .code(e.statusCode)
          .send({ error: { code: 'DSP_PUSH_INVALID_ARGUMENT', message: e.message ?? 'bad request' } });
      }
      this.#log.error({ err }, 'control request failed');
      return reply.code(500).send({ error: { code: 'DSP_PUSH_INTERNAL', message: 'internal error' } });
    });

    const need = <T>(value: T | undefined, what: string): T => {
      if (value === undefined)
        throw new PushError('DSP_PUSH_NOT_FOUND', `${what} is not enabled on this gateway`);
      return value;
    };
    const subs = o.subscriptions;
    const p = CONTROL_PREFIX;

    app.get('/health', async () => ({ status: 'ok' }));
    app.get('/metrics', async (_req, reply: FastifyReply) => {
      const m = need(o.metrics, 'metrics');
      return reply.type(m.contentType).send(await m.metrics());
    });

    app.get(`${p}/subscriptions`, async () => ({
      readOnly: subs.readOnly,
      subscriptions: await subs.list(),
    }));
    app.get(`${p}/subscriptions/:id`, async (req) => {
      const { id } = parse(idParams, req.params, 'params');
      const sub = await subs.get(id);
      if (!sub) throw new PushError('DSP_PUSH_NOT_FOUND', `subscription ${id} not found`);
      return sub;
    });
    app.post(`${p}/subscriptions`, async (req, reply) => {
      const body = parse(newSubscription, req.body, 'body');
      if (subs.readOnly) throw new PushError('DSP_PUSH_READ_ONLY', 'subscriptions are managed in MySQL');
      const created = await subs.create(stripUndefined(body));
      return reply.code(201).send(created);
    });
    app.patch(`${p}/subscriptions/:id`, async (req) => {
      const { id } = parse(idParams, req.params, 'params');
      const body = parse(subscriptionPatch, req.body, 'body');
      if (subs.readOnly) throw new PushError('DSP_PUSH_READ_ONLY', 'subscriptions are managed in MySQL');
      return subs.update(id, stripUndefined(body));
    });
    app.delete(`${p}/subscriptions/:id`, async (req, reply) => {
      const { id } = parse(idParams, req.params, 'params');
      if (subs.readOnly) throw new PushError('DSP_PUSH_READ_ONLY', 'subscriptions are managed in MySQL');
      if (!(await subs.remove(id))) throw new PushError('DSP_PUSH_NOT_FOUND', `subscription ${id} not found`);
      return reply.code(204).send();
    });
    app.get(`${p}/subscriptions/:id/params`, async (req) => {
      const { id } = parse(idParams, req.params, 'params');
      return subs.getParams(id);
    });
    app.patch(`${p}/subscriptions/:id/params`, async (req) => {
      const { id } = parse(idParams, req.params, 'params');
      // Unlike the RPC, unknown names are an error here: a typo must not pass silently.
      const patch = parse(legacyParamsPatchSchema.strict(), req.body, 'body');
      return subs.setParams(id, patch);
    });

    app.get(`${p}/stats`, async () => ({ subscriptions: await need(o.stats, 'stats').all() }));
    app.get(`${p}/stats/subscriptions/:id`, async (req) => {
      const { id } = parse(idParams, req.params, 'params');
      return { subscriptionId: id, windows: await need(o.stats, 'stats').subscription(id) };
    });
    app.get(`${p}/stats/topics/:topic`, async (req) => {
      const { topic } = parse(z.object({ topic: z.string().min(1).max(200) }), req.params, 'params');
      return { topic, windows: await need(o.stats, 'stats').topic(topic) };
    });

    app.get(`${p}/alerts/settings`, async () => need(o.alertSettings, 'alert settings').get());
    app.patch(`${p}/alerts/settings`, async (req) => {
      const patch = parse(alertSettingsPatch, req.body, 'body');
      return need(o.alertSettings, 'alert settings').setDefaultAlarm(stripUndefined(patch));
    });

    app.post(`${p}/subscriptions/:id/clear`, async (req) => {
      const { id } = parse(idParams, req.params, 'params');
      if (!(await subs.get(id))) throw new PushError('DSP_PUSH_NOT_FOUND', `subscription ${id} not found`);
      return need(o.clearer, 'clearing').clearSubscription(id);
    });
    app.post(`${p}/topics/:topic/clear`, async (req) => {
      const { topic } = parse(z.object({ topic: z.string().min(1).max(200) }), req.params, 'params');
      return need(o.clearer, 'clearing').clearTopic(topic);
    });

    app.get(`${p}/subscriptions/:id/dead-letters`, async (req) => {
      const { id } = parse(idParams, req.params, 'params');
      const { limit } = parse(limitQuery, req.query, 'query');
      return { deadLetters: await need(o.deadLetters, 'dead letters').list(id, { limit }) };
    });
    app.post(`${p}/subscriptions/:id/dead-letters/:letter/redrive`, async (req, reply) => {
      const { id, letter } = parse(deadLetterParams, req.params, 'params');
      const edits = parse(redriveBody, req.body ?? undefined, 'body');
      await need(o.deadLetters, 'dead letters').redrive(
        id,
        letter,
        edits ? stripUndefined(edits) : undefined,
      );
      return reply.code(202).send({ redriven: letter });
    });
    app.delete(`${p}/subscriptions/:id/dead-letters/:letter`, async (req, reply) => {
      const { id, letter } = parse(deadLetterParams, req.params, 'params');
      if (!(await need(o.deadLetters, 'dead letters').remove(id, letter))) {
        throw new PushError('DSP_PUSH_NOT_FOUND', `dead letter ${letter} not found`);
      }
      return reply.code(204).send();
    });
  }
}

/** Drops keys whose value is undefined (zod leaves them; exactOptionalPropertyTypes refuses them). */
function stripUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
