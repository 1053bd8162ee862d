import type { FastifyInstance } from 'fastify';
import type { ProxyContext } from '../proxy-context.js';
import type { AdminGuard } from './admin-auth.js';

/** How long the health route waits for the fleet's figures before it answers without them. */
const HEALTH_DB_WAIT_MS = 1_000;

/** Liveness, readiness and Prometheus metrics. Health and readiness are open (probes carry no token). */
export function registerHealthRoutes(app: FastifyInstance, ctx: ProxyContext, guard: AdminGuard): void {
  app.get('/_dispatcher/health', async () =>
    ctx.pg
      ? {
          status: ctx.closing ? 'closing' : 'ok',
          store: 'postgres',
          // This instance's engine; `fleet` counts the whole fleet's requests in the database.
          backlog: ctx.engine.backlog,
          inflight: ctx.engine.inflight,
          // Liveness must not hang on the database: its figures or why they are missing (readiness is 503).
          ...(await withinMs(ctx.pg.stats(), HEALTH_DB_WAIT_MS).then(
            ({ pool, ...fleet }) => ({ deadLetters: fleet.deadLetters, fleet, pool }),
            (err: Error) => ({ database: `unavailable: ${err.message}`, pool: ctx.pg?.poolStats() }),
          )),
        }
      : {
          status: ctx.closing ? 'closing' : 'ok',
          backlog: ctx.engine.backlog,
          inflight: ctx.engine.inflight,
          deadLetters: ctx.store.deadLetterCount,
          log: ctx.store.main.stats(),
        },
  );
  app.get('/_dispatcher/ready', async (_req, reply) => {
    // The database is asked, not remembered: readiness must turn back on by itself.
    const down = ctx.pg
      ? await ctx.pg.ping().then(
          () => undefined,
          (err: Error) => `the database cannot be reached: ${err.message}`,
        )
      : undefined;
    const reason = ctx.closing ? 'closing' : (down ?? ctx.storageUnavailable() ?? ctx.overloaded());
    if (reason) return reply.code(503).send({ ready: false, reason });
    return { ready: true };
  });
  app.get('/_dispatcher/metrics', { onRequest: guard }, async (_req, reply) => {
    ctx.metrics.backlog.set(ctx.engine.backlog);
    ctx.metrics.deadLetterSize.set(await ctx.admin.deadLetterCount());
    return reply
      .header('content-type', ctx.metrics.registry.contentType)
      .send(await ctx.metrics.registry.metrics());
  });
}

/** `p`, or a rejection once `ms` have passed without it settling. */
function withinMs<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
