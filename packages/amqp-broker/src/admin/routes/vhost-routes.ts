/** /api/vhosts[/{vhost}], /api/vhost-limits[/{vhost}]. */
import type { FastifyInstance } from 'fastify';
import type { VirtualHost } from '../../vhost/virtual-host.js';
import type { AdminContext } from '../admin-context.js';
import { vhostOr404, vhostsFor } from '../admin-route-helpers.js';
import { applyListQuery, type ListQuery } from '../list-query.js';
import { depthJson, messageStatsJson } from '../resource-json.js';
import type { MessageCounts } from '../stats/stats-sampler.js';

function vhostJson(ctx: AdminContext, v: VirtualHost) {
  let ready = 0;
  let unacked = 0;
  const counts: MessageCounts = {
    publish: 0,
    deliverGet: 0,
    redeliver: 0,
    ack: 0,
    publishRate: 0,
    deliverGetRate: 0,
    redeliverRate: 0,
    ackRate: 0,
  };
  const depth = { messages: 0, ready: 0, unacked: 0, messagesRate: 0, readyRate: 0, unackedRate: 0 };
  for (const q of v.queues()) {
    ready += q.messageCount;
    unacked += q.unacked;
    const s = ctx.stats.queue(q);
    counts.deliverGet += s.counts.deliverGet;
    counts.deliverGetRate += s.counts.deliverGetRate;
    counts.redeliver += s.counts.redeliver;
    counts.redeliverRate += s.counts.redeliverRate;
    counts.ack += s.counts.ack;
    counts.ackRate += s.counts.ackRate;
    counts.publish += s.counts.publish;
    counts.publishRate += s.counts.publishRate;
    depth.messagesRate += s.depth.messagesRate;
    depth.readyRate += s.depth.readyRate;
    depth.unackedRate += s.depth.unackedRate;
  }
  counts.publish = v.publishedCount;
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
  app.get<{ Querystring: ListQuery }>('/api/vhosts', async (request) =>
    applyListQuery(
      ctx.broker.vhosts().map((v) => vhostJson(ctx, v)),
      request.query,
    ),
  );
  app.get<{ Params: { vhost: string } }>('/api/vhosts/:vhost', async (request) =>
    vhostJson(ctx, vhostOr404(ctx, request.params.vhost)),
  );
  app.get('/api/vhost-limits', async () => vhostsFor(ctx, undefined).flatMap((v) => limitsJson(ctx, v)));
  app.get<{ Params: { vhost: string } }>('/api/vhost-limits/:vhost', async (request) =>
    limitsJson(ctx, vhostOr404(ctx, request.params.vhost)),
  );
}
