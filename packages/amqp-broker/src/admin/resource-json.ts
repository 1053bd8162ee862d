/**
 * The broker's objects in the JSON shapes of RabbitMQ 3.10's management API (the fields clients read:
 * rabbitmqadmin, the Terraform provider, exporters, the web page).
 */
import type { ChannelInfo, ConnectionInfo, ConsumerInfo } from '../connection-info.js';
import type { Binding, Exchange } from '../exchange/exchange.js';
import { Queue } from '../queue/queue.js';
import type { VirtualHost } from '../vhost/virtual-host.js';
import type { AdminContext } from './admin-context.js';
import { bindingPropertiesKey } from './binding-properties-key.js';
import { fieldTableToJson } from './field-json.js';
import type { DepthSample, MessageCounts } from './stats/stats-sampler.js';

type Json = Record<string, unknown>;

const rateOf = (rate: number): Json => ({ rate });

/** RabbitMQ's `message_stats` object (only counters that moved, as RabbitMQ omits idle ones). */
export function messageStatsJson(c: MessageCounts, extra: Json = {}): Json {
  const out: Json = { ...extra };
  const put = (key: string, total: number, rate: number): void => {
    out[key] = total;
    out[`${key}_details`] = rateOf(rate);
  };
  put('publish', c.publish, c.publishRate);
  put('deliver_get', c.deliverGet, c.deliverGetRate);
  put('redeliver', c.redeliver, c.redeliverRate);
  put('ack', c.ack, c.ackRate);
  return out;
}

/** `messages`, `messages_ready`, `messages_unacknowledged` and their `_details`. */
export function depthJson(live: { ready: number; unacked: number }, sampled: DepthSample): Json {
  return {
    messages: live.ready + live.unacked,
    messages_details: rateOf(sampled.messagesRate),
    messages_ready: live.ready,
    messages_ready_details: rateOf(sampled.readyRate),
    messages_unacknowledged: live.unacked,
    messages_unacknowledged_details: rateOf(sampled.unackedRate),
  };
}

export function queueJson(ctx: AdminContext, vhost: VirtualHost, q: Queue): Json {
  const sample = ctx.stats.queue(q);
  const counts = sample.counts;
  const moved = counts.publish + counts.deliverGet + counts.ack > 0;
  const exclusiveConsumer = q.consumers.find((c) => c.exclusive);
  return {
    arguments: fieldTableToJson(q.arguments),
    auto_delete: q.autoDelete,
    consumers: q.consumerCount,
    consumer_capacity: q.consumerCount > 0 ? 1 : 0,
    consumer_utilisation: q.consumerCount > 0 ? 1 : null,
    durable: q.durable,
    effective_policy_definition: {},
    exclusive: q.owner !== undefined,
    exclusive_consumer_tag: exclusiveConsumer?.tag ?? null,
    memory: q.messageBytes,
    message_bytes: q.messageBytes,
    message_bytes_ready: q.messageBytes,
    message_bytes_unacknowledged: 0,
    ...(moved ? { message_stats: messageStatsJson(counts) } : {}),
    ...depthJson({ ready: q.messageCount, unacked: q.unacked }, sample.depth),
    name: q.name,
    node: ctx.nodeName,
    operator_policy: null,
    policy: null,
    recoverable_slaves: null,
    state: 'running',
    type: 'classic',
    vhost: vhost.name,
  };
}

export function exchangeJson(ctx: AdminContext, vhost: VirtualHost, x: Exchange): Json {
  void ctx;
  return {
    arguments: fieldTableToJson(x.arguments),
    auto_delete: x.autoDelete,
    durable: x.durable,
    internal: x.internal,
    name: x.name,
    type: x.type,
    user_who_performed_action: 'rmq-internal',
    vhost: vhost.name,
  };
}

/** One binding; `source` is the exchange's name ('' for the default exchange). */
export function bindingJson(vhost: VirtualHost, source: string, b: Binding): Json {
  return {
    source,
    vhost: vhost.name,
    destination: b.destination.name,
    destination_type: b.destination instanceof Queue ? 'queue' : 'exchange',
    routing_key: b.routingKey,
    arguments: fieldTableToJson(b.arguments),
    properties_key: bindingPropertiesKey(b.routingKey, b.arguments),
  };
}

/** The implicit binding of the default exchange to a queue (RabbitMQ lists it). */
export function defaultBindingJson(vhost: VirtualHost, q: Queue): Json {
  return {
    source: '',
    vhost: vhost.name,
    destination: q.name,
    destination_type: 'queue',
    routing_key: q.name,
    arguments: {},
    properties_key: bindingPropertiesKey(q.name, new Map()),
  };
}

/** Every binding of a vhost, the default exchange's implicit ones first (RabbitMQ's order). */
export function vhostBindings(vhost: VirtualHost): Json[] {
  const out: Json[] = [];
  for (const q of vhost.queues()) out.push(defaultBindingJson(vhost, q));
  for (const x of vhost.exchanges()) {
    if (x.name === '') continue;
    for (const b of x.bindings()) out.push(bindingJson(vhost, x.name, b));
  }
  return out;
}

function connectionDetails(c: ConnectionInfo): Json {
  return { name: c.name, peer_host: c.peerHost, peer_port: c.peerPort };
}

export function connectionJson(ctx: AdminContext, c: ConnectionInfo): Json {
  return {
    auth_mechanism: 'PLAIN',
    channel_max: c.channelMax,
    channels: c.channels.length,
    client_properties: c.clientProvidedName === undefined ? {} : { connection_name: c.clientProvidedName },
    connected_at: c.connectedAt,
    frame_max: c.frameMax,
    host: c.host,
    name: c.name,
    node: ctx.nodeName,
    peer_host: c.peerHost,
    peer_port: c.peerPort,
    port: c.port,
    protocol: 'AMQP 0-9-1',
    ssl: false,
    state: c.blocked ? 'blocked' : 'running',
    timeout: c.heartbeatSeconds,
    type: 'network',
    user: c.user ?? '',
    user_who_performed_action: c.user ?? '',
    ...(c.clientProvidedName === undefined ? {} : { user_provided_name: c.clientProvidedName }),
    vhost: c.vhost ?? '',
  };
}

export function channelJson(ctx: AdminContext, c: ConnectionInfo, ch: ChannelInfo): Json {
  return {
    connection_details: connectionDetails(c),
    consumer_count: ch.consumerCount,
    messages_unacknowledged: ch.unackedCount,
    name: `${c.name} (${ch.number})`,
    node: ctx.nodeName,
    number: ch.number,
    prefetch_count: ch.prefetchCount,
    state: 'running',
    user: c.user ?? '',
    user_who_performed_action: c.user ?? '',
    vhost: c.vhost ?? '',
  };
}

export function consumerJson(c: ConnectionInfo, ch: ChannelInfo, consumer: ConsumerInfo): Json {
  return {
    ack_required: consumer.ackRequired,
    active: true,
    activity_status: 'up',
    arguments: consumer.priority === 0 ? {} : { 'x-priority': consumer.priority },
    channel_details: {
      connection_name: c.name,
      name: `${c.name} (${ch.number})`,
      node: '',
      number: ch.number,
      peer_host: c.peerHost,
      peer_port: c.peerPort,
      user: c.user ?? '',
    },
    consumer_tag: consumer.tag,
    exclusive: consumer.exclusive,
    prefetch_count: consumer.prefetch,
    queue: { name: consumer.queue, vhost: c.vhost ?? '' },
  };
}
