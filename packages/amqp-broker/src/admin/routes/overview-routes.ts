/** /api/overview, /api/nodes, /api/whoami, /api/health/checks/…, /api/extensions, /api/cluster-name. */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { BROKER_VERSION } from '../../server.js';
import { isMonitor, requestUser } from '../admin-access.js';
import type { AdminUser } from '../admin-authenticator.js';
import type { AdminContext } from '../admin-context.js';
import { notFound } from '../admin-http-error.js';
import { vhostsFor } from '../admin-route-helpers.js';
import { depthJson, messageStatsJson } from '../resource-json.js';
import type { MessageCounts } from '../stats/stats-sampler.js';

/** The RabbitMQ version whose management API this one answers like. */
export const RABBITMQ_COMPATIBLE_VERSION = '3.10.8';

const EXCHANGE_TYPES = ['direct', 'fanout', 'headers', 'topic'].map((name) => ({
  name,
  description: `AMQP ${name} exchange, as per the AMQP specification`,
  enabled: true,
}));

function openFiles(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

function fileLimit(): number {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function objectTotals(ctx: AdminContext) {
  let queues = 0;
  let exchanges = 0;
  let consumers = 0;
  for (const v of ctx.broker.vhosts()) {
    queues += v.queueCount;
    exchanges += v.exchangeCount;
    for (const q of v.queues()) consumers += q.consumerCount;
  }
  const connections = ctx.broker.connections();
  let channels = 0;
  for (const c of connections) channels += c.channels.length;
  return { channels, connections: connections.length, consumers, exchanges, queues };
}

/**
 * What a `management`/`policymaker` user sees in the overview (RabbitMQ 3.10, checked live): totals over
 * its own vhosts and connections, no consumer count, `queue_totals` `{}` (even with queues), and no node,
 * listeners or contexts.
 */
function ownOverview(ctx: AdminContext, user: AdminUser) {
  let queues = 0;
  let exchanges = 0;
  // Message rates too count only its vhosts (RabbitMQ sums the vhosts' statistics for such a user).
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
  for (const v of vhostsFor(ctx, undefined, user)) {
    queues += v.queueCount;
    exchanges += v.exchangeCount;
    const s = ctx.stats.vhost(v.name);
    counts.publish += v.publishedCount;
    counts.publishRate += s.receivedRate;
    counts.deliverGet += s.counts.deliverGet;
    counts.deliverGetRate += s.counts.deliverGetRate;
    counts.redeliver += s.counts.redeliver;
    counts.redeliverRate += s.counts.redeliverRate;
    counts.ack += s.counts.ack;
    counts.ackRate += s.counts.ackRate;
  }
  const connections = ctx.broker.connections().filter((c) => c.user === user.name);
  let channels = 0;
  for (const c of connections) channels += c.channels.length;
  return {
    message_stats: messageStatsJson(counts),
    object_totals: { channels, connections: connections.length, exchanges, queues },
    queue_totals: {},
  };
}

export function listeners(ctx: AdminContext) {
  const out: Record<string, unknown>[] = [
    {
      node: ctx.nodeName,
      protocol: 'amqp',
      ip_address: ctx.broker.host,
      port: ctx.broker.port,
      socket_opts: {},
    },
    {
      node: ctx.nodeName,
      protocol: ctx.tls ? 'https' : 'http',
      ip_address: '',
      port: ctx.managementPort(),
      socket_opts: { port: ctx.managementPort() },
    },
  ];
  const prom = ctx.prometheusPort();
  if (prom !== undefined) {
    out.push({
      node: ctx.nodeName,
      protocol: 'http/prometheus',
      ip_address: '',
      port: prom,
      socket_opts: {},
    });
  }
  return out;
}

export function nodeJson(ctx: AdminContext) {
  const alarms = ctx.broker.resourceAlarms();
  const memory = process.memoryUsage();
  return {
    name: ctx.nodeName,
    type: 'disc',
    running: true,
    being_drained: false,
    mem_used: memory.rss,
    mem_limit: alarms.memory.highWatermarkBytes,
    mem_alarm: alarms.memory.alarmed,
    disk_free: alarms.disk.freeBytes ?? 0,
    disk_free_limit: alarms.disk.freeLimitBytes,
    disk_free_alarm: alarms.disk.alarmed,
    fd_used: openFiles(),
    fd_total: fileLimit(),
    sockets_used: ctx.broker.connectionCount,
    sockets_total: fileLimit(),
    proc_used: 0,
    proc_total: 0,
    run_queue: 0,
    processors: cpus().length,
    os_pid: String(process.pid),
    uptime: Date.now() - ctx.broker.createdAt,
    partitions: [],
    applications: [{ name: 'dispatchd', description: 'Dispatcher AMQP broker', version: BROKER_VERSION }],
    exchange_types: EXCHANGE_TYPES,
    rates_mode: 'basic',
  };
}

export function registerOverviewRoutes(app: FastifyInstance, ctx: AdminContext): void {
  app.get('/api/overview', async (request) => {
    const user = requestUser(request);
    const stats = ctx.stats;
    const depth = stats.globalDepth;
    let ready = 0;
    let unacked = 0;
    for (const v of ctx.broker.vhosts()) {
      for (const q of v.queues()) {
        ready += q.messageCount;
        unacked += q.unacked;
      }
    }
    const received = stats.received();
    const overview = {
      management_version: RABBITMQ_COMPATIBLE_VERSION,
      rates_mode: 'basic',
      exchange_types: EXCHANGE_TYPES,
      product_version: BROKER_VERSION,
      product_name: 'dispatchd',
      rabbitmq_version: RABBITMQ_COMPATIBLE_VERSION,
      cluster_name: ctx.nodeName,
      erlang_version: `node ${process.versions.node}`,
      erlang_full_version: `Node.js ${process.version}`,
      disable_stats: false,
      enable_queue_totals: false,
      message_stats: messageStatsJson({
        ...stats.global,
        publish: received.total,
        publishRate: received.rate,
      }),
      churn_rates: {},
      queue_totals: depthJson({ ready, unacked }, depth),
      object_totals: objectTotals(ctx),
      statistics_db_event_queue: 0,
      node: ctx.nodeName,
      listeners: listeners(ctx),
      contexts: [
        {
          node: ctx.nodeName,
          description: 'RabbitMQ Management',
          path: '/',
          port: String(ctx.managementPort()),
        },
      ],
    };
    if (isMonitor(user)) return overview;
    const { node: _node, listeners: _listeners, contexts: _contexts, ...rest } = overview;
    return { ...rest, ...ownOverview(ctx, user) };
  });
  app.get('/api/cluster-name', async () => ({ name: ctx.nodeName }));
  app.get('/api/extensions', async () => []);
  app.get('/api/nodes', async () => [nodeJson(ctx)]);
  app.get<{ Params: { name: string } }>('/api/nodes/:name', async (request) => {
    if (request.params.name !== ctx.nodeName) throw notFound();
    return nodeJson(ctx);
  });
  app.get('/api/whoami', async (request) => {
    const user = (request as unknown as { adminUser: AdminUser }).adminUser;
    return { name: user.name, tags: [...user.tags] };
  });
  app.get('/api/health/checks/alarms', async (_request, reply) => {
    const alarms = ctx.broker.resourceAlarms();
    const active = [
      ...(alarms.memory.alarmed ? [{ node: ctx.nodeName, resource: 'memory' }] : []),
      ...(alarms.disk.alarmed ? [{ node: ctx.nodeName, resource: 'disk' }] : []),
    ];
    if (active.length === 0) return { status: 'ok' };
    return reply
      .code(503)
      .send({ status: 'failed', reason: 'resource alarm(s) in effect in the cluster', alarms: active });
  });
  app.get<{ Params: { port: string } }>('/api/health/checks/port-listener/:port', async (request, reply) => {
    const port = Number(request.params.port);
    const ports = listeners(ctx).map((l) => l.port as number);
    if (!Number.isInteger(port)) {
      return reply.code(400).send({ error: 'bad_request', reason: `invalid port ${request.params.port}` });
    }
    if (ports.includes(port)) return { status: 'ok', port };
    return reply.code(503).send({ status: 'failed', reason: 'No active listener', missing: port, ports });
  });
}
