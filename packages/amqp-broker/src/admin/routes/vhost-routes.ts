/** /api/vhosts[/{vhost}] (GET; PUT creates 201 / 204 when it exists; DELETE), /api/vhost-limits[/{vhost}]. */
import type { FastifyInstance } from 'fastify';
import { BrokerError } from '../../errors.js';
import type { VirtualHost } from '../../vhost/virtual-host.js';
import { canAccessVhost, isMonitor, requestUser } from '../admin-access.js';
import type { AdminContext } from '../admin-context.js';
import { badRequest, notFound } from '../admin-http-error.js';
import { vhostOr404, vhostsFor } from '../admin-route-helpers.js';
import { applyListQuery, type ListQuery } from '../list-query.js';
import { depthJson, messageStatsJson } from '../resource-json.js';
import type { MessageCounts } from '../stats/stats-sampler.js';

function vhostJson(ctx: AdminContext, v: VirtualHost) {
  let ready = 0;
  let unacked = 0;
  for (const q of v.queues()) {
    ready += q.messageCount;
    unacked += q.unacked;
  }
  // Counts and rates as of the last statistics sample (kept per vhost by the sampler); publish is live.
  const sample = ctx.stats.vhost(v.name);
  const counts: MessageCounts = { ...sample.counts, publish: v.publishedCount };
  const depth = sample.depth;
  return {
    name: v.name,
    description: '',
    tags: [],
    default_queue_type: 'classic',
    metadata: { description: '', tags: [] },
    tracing: false,
    cluster_state: { [ctx.nodeName]: 'running' },
    ...depthJson({ ready, unacked }, depth),
    message_stats: messageStatsJson(counts),
  };
}

function limitsJson(ctx: AdminContext, v: VirtualHost) {
  const max = ctx.broker.maxQueuesPerVhost;
  return max > 0 ? [{ vhost: v.name, value: { 'max-queues': max } }] : [];
}

export function registerVhostRoutes(app: FastifyInstance, ctx: AdminContext): void {
  app.get<{ Querystring: ListQuery }>('/api/vhosts', async (request) => {
    // Monitoring users see every vhost here (RabbitMQ's list_visible_vhosts), others their own.
    const user = requestUser(request);
    const vhosts = ctx.broker.vhosts().filter((v) => isMonitor(user) || canAccessVhost(ctx, user, v.name));
    return applyListQuery(
      vhosts.map((v) => vhostJson(ctx, v)),
      request.query,
    );
  });
  app.put<{ Params: { vhost: string } }>('/api/vhosts/:vhost', async (request, reply) => {
    const name = request.params.vhost;
    if (ctx.broker.vhost(name) !== undefined) return reply.code(204).send();
    await ctx.broker.addVhost(name).catch((err: unknown) => {
      throw err instanceof BrokerError ? badRequest(err.message) : err;
    });
    // As RabbitMQ's API does: whoever creates a vhost gets full permissions on it.
    const user = requestUser(request).name;
    ctx.broker.permissions.put({ user, vhost: name, configure: '.*', write: '.*', read: '.*' });
    await ctx.broker.flushDefinitions();
    return reply.code(201).send();
  });
  app.delete<{ Params: { vhost: string } }>('/api/vhosts/:vhost', async (request, reply) => {
    if (!(await ctx.broker.deleteVhost(request.params.vhost))) throw notFound();
    return reply.code(204).send();
  });
  app.get<{ Params: { vhost: string } }>('/api/vhosts/:vhost', async (request) =>
    vhostJson(ctx, vhostOr404(ctx, request.params.vhost)),
  );
  app.get('/api/vhost-limits', async (request) =>
    vhostsFor(ctx, undefined, requestUser(request)).flatMap((v) => limitsJson(ctx, v)),
  );
  app.get<{ Params: { vhost: string } }>('/api/vhost-limits/:vhost', async (request) =>
    limitsJson(ctx, vhostOr404(ctx, request.params.vhost)),
  );
}
