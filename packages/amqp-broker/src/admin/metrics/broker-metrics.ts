/**
 * Prometheus metrics with RabbitMQ's names (the rabbitmq_prometheus plugin's), so its Grafana dashboard
 * reads dispatchd: `/metrics` aggregates queue figures over all queues, `/metrics/per-object` labels them
 * by `vhost` and `queue`. Values are read from the broker when scraped; nothing runs between scrapes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Counter, Gauge, Registry } from 'prom-client';
import { BROKER_VERSION } from '../../server.js';
import type { AdminContext } from '../admin-context.js';
import { RABBITMQ_COMPATIBLE_VERSION } from '../routes/overview-routes.js';

const AMQP = { protocol: 'amqp091' };
const CLASSIC = { protocol: 'amqp091', queue_type: 'rabbit_classic_queue' };

function fdCounts(): { open: number; max: number } {
  let open = 0;
  let max = 0;
  try {
    open = readdirSync('/proc/self/fd').length;
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    max = m ? Number(m[1]) : 0;
  } catch {
    // Not Linux: reported as 0.
  }
  return { open, max };
}

interface QueueFigures {
  vhost: string;
  queue: string;
  ready: number;
  unacked: number;
  consumers: number;
  bytes: number;
  published: number;
}

function queueFigures(ctx: AdminContext): QueueFigures[] {
  const out: QueueFigures[] = [];
  for (const v of ctx.broker.vhosts()) {
    for (const q of v.queues()) {
      out.push({
        vhost: v.name,
        queue: q.name,
        ready: q.messageCount,
        unacked: q.unacked,
        consumers: q.consumerCount,
        bytes: q.messageBytes,
        published: q.stats.publish,
      });
    }
  }
  return out;
}

/** Both registries (aggregated and per-object) of one management listener. */
export interface BrokerMetrics {
  readonly aggregated: Registry;
  readonly perObject: Registry;
}

export function createBrokerMetrics(ctx: AdminContext): BrokerMetrics {
  const aggregated = new Registry();
  const perObject = new Registry();
  const both = [aggregated, perObject];
  const gauge = (name: string, help: string, read: () => number, registers = both) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  const counter = (name: string, help: string, labels: Record<string, string>, read: () => number) =>
    new Counter({
      name,
      help,
      labelNames: Object.keys(labels),
      registers: both,
      collect() {
        this.reset();
        this.inc(labels, read());
      },
    });
  const info = (name: string, help: string, labels: () => Record<string, string>) =>
    new Gauge({
      name,
      help,
      labelNames: Object.keys(labels()),
      registers: both,
      collect() {
        this.reset();
        this.set(labels(), 1);
      },
    });

  info('rabbitmq_identity_info', 'RabbitMQ node & cluster identity info', () => ({
    rabbitmq_node: ctx.nodeName,
    rabbitmq_cluster: ctx.nodeName,
    rabbitmq_cluster_permanent_id: `dispatchd-${ctx.nodeName}`,
  }));
  info('rabbitmq_build_info', 'RabbitMQ & Erlang/OTP version info', () => ({
    rabbitmq_version: RABBITMQ_COMPATIBLE_VERSION,
    prometheus_plugin_version: BROKER_VERSION,
    prometheus_client_version: 'prom-client',
    erlang_version: process.versions.node,
  }));

  gauge('rabbitmq_connections', 'Connections currently open', () => ctx.broker.connectionCount);
  gauge('rabbitmq_channels', 'Channels currently open', () =>
    ctx.broker.connections().reduce((n, c) => n + c.channels.length, 0),
  );
  gauge('rabbitmq_consumers', 'Consumers currently connected', () =>
    queueFigures(ctx).reduce((n, q) => n + q.consumers, 0),
  );
  gauge('rabbitmq_queues', 'Queues available', () =>
    ctx.broker.vhosts().reduce((n, v) => n + v.queueCount, 0),
  );
  gauge('rabbitmq_process_resident_memory_bytes', 'Memory used in bytes', () => process.memoryUsage().rss);
  gauge(
    'rabbitmq_resident_memory_limit_bytes',
    'Memory high watermark in bytes',
    () => ctx.broker.resourceAlarms().memory.highWatermarkBytes,
  );
  gauge(
    'rabbitmq_disk_space_available_bytes',
    'Disk space available in bytes',
    () => ctx.broker.resourceAlarms().disk.freeBytes ?? 0,
  );
  gauge(
    'rabbitmq_disk_space_available_limit_bytes',
    'Free disk space low watermark in bytes',
    () => ctx.broker.resourceAlarms().disk.freeLimitBytes,
  );
  gauge('rabbitmq_alarms_memory_used_watermark', 'is 1 if VM memory watermark alarm is in effect', () =>
    ctx.broker.resourceAlarms().memory.alarmed ? 1 : 0,
  );
  gauge(
    'rabbitmq_alarms_free_disk_space_watermark',
    'is 1 if free disk space watermark alarm is in effect',
    () => (ctx.broker.resourceAlarms().disk.alarmed ? 1 : 0),
  );
  gauge('rabbitmq_alarms_file_descriptor_limit', 'is 1 if file descriptor limit alarm is in effect', () => 0);
  gauge('rabbitmq_process_open_fds', 'Open file descriptors', () => fdCounts().open);
  gauge('rabbitmq_process_max_fds', 'Open file descriptors limit', () => fdCounts().max);

  counter(
    'rabbitmq_global_messages_received_total',
    'Total number of messages received from publishers',
    AMQP,
    () => ctx.stats.received().total,
  );
  counter(
    'rabbitmq_global_messages_delivered_total',
    'Total number of messages delivered to consumers',
    CLASSIC,
    () => ctx.stats.liveTotals().deliverGet,
  );
  counter(
    'rabbitmq_global_messages_redelivered_total',
    'Total number of messages redelivered to consumers',
    CLASSIC,
    () => ctx.stats.liveTotals().redeliver,
  );
  counter(
    'rabbitmq_global_messages_acknowledged_total',
    'Total number of messages acknowledged by consumers',
    CLASSIC,
    () => ctx.stats.liveTotals().ack,
  );

  // Queue figures: one sum in /metrics, one series per queue in /metrics/per-object.
  const queueGauge = (name: string, help: string, read: (q: QueueFigures) => number) => {
    gauge(name, help, () => queueFigures(ctx).reduce((n, q) => n + read(q), 0), [aggregated]);
    new Gauge({
      name,
      help,
      labelNames: ['vhost', 'queue'],
      registers: [perObject],
      collect() {
        this.reset();
        for (const q of queueFigures(ctx)) this.set({ vhost: q.vhost, queue: q.queue }, read(q));
      },
    });
  };
  queueGauge('rabbitmq_queue_messages_ready', 'Messages ready to be delivered to consumers', (q) => q.ready);
  queueGauge(
    'rabbitmq_queue_messages_unacked',
    'Messages delivered to consumers but not yet acknowledged',
    (q) => q.unacked,
  );
  queueGauge(
    'rabbitmq_queue_messages',
    'Sum of ready and unacknowledged messages - total queue depth',
    (q) => q.ready + q.unacked,
  );
  queueGauge('rabbitmq_queue_consumers', 'Consumers on a queue', (q) => q.consumers);
  queueGauge('rabbitmq_queue_messages_ready_bytes', 'Size in bytes of ready messages', (q) => q.bytes);
  queueGauge(
    'rabbitmq_queue_messages_bytes',
    'Size in bytes of ready and unacknowledged messages',
    (q) => q.bytes,
  );
  queueGauge(
    'rabbitmq_queue_messages_published_total',
    'Total number of messages published to queues',
    (q) => q.published,
  );
  return { aggregated, perObject };
}
