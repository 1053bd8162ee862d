// The fields of RabbitMQ's management JSON that the page reads (the API sends many more).

/** A `{rate}` sample object of `message_stats`. */
export interface RateDetails {
  rate: number;
}

export interface MessageStats {
  publish?: number;
  publish_details?: RateDetails;
  deliver_get?: number;
  deliver_get_details?: RateDetails;
  ack?: number;
  ack_details?: RateDetails;
  redeliver_details?: RateDetails;
}

export interface Overview {
  cluster_name?: string;
  rabbitmq_version?: string;
  product_name?: string;
  product_version?: string;
  node?: string;
  message_stats?: MessageStats;
  queue_totals?: { messages?: number; messages_ready?: number; messages_unacknowledged?: number };
  object_totals?: Record<string, number>;
}

export interface NodeInfo {
  name: string;
  running?: boolean;
  uptime?: number;
  mem_used?: number;
  mem_limit?: number;
  mem_alarm?: boolean;
  disk_free?: number;
  disk_free_limit?: number;
  disk_free_alarm?: boolean;
  fd_used?: number;
  fd_total?: number;
}

export interface Whoami {
  name: string;
  tags: string[] | string;
}

export interface Queue {
  name: string;
  vhost: string;
  durable?: boolean;
  auto_delete?: boolean;
  state?: string;
  messages?: number;
  messages_ready?: number;
  messages_unacknowledged?: number;
  consumers?: number;
  message_stats?: MessageStats;
  arguments?: Record<string, unknown>;
}

export interface Exchange {
  name: string;
  vhost: string;
  type: string;
  durable?: boolean;
  auto_delete?: boolean;
  internal?: boolean;
  message_stats?: MessageStats;
}

export interface Binding {
  source: string;
  vhost: string;
  destination: string;
  destination_type: string;
  routing_key: string;
  properties_key: string;
  arguments?: Record<string, unknown>;
}

export interface Connection {
  name: string;
  user?: string;
  vhost?: string;
  peer_host?: string;
  peer_port?: number;
  state?: string;
  channels?: number;
  protocol?: string;
  client_properties?: { product?: string; connection_name?: string };
}

export interface Channel {
  name: string;
  user?: string;
  vhost?: string;
  number?: number;
  consumer_count?: number;
  messages_unacknowledged?: number;
  prefetch_count?: number;
  state?: string;
  connection_details?: { name?: string };
}

export interface User {
  name: string;
  tags: string[] | string;
}

export interface Vhost {
  name: string;
  messages?: number;
}

export interface Permission {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}

/** One message of `POST /api/queues/{vh}/{q}/get`. */
export interface GotMessage {
  payload: string;
  payload_encoding: string;
  payload_bytes: number;
  redelivered: boolean;
  exchange: string;
  routing_key: string;
  message_count: number;
  properties?: Record<string, unknown>;
}

/** RabbitMQ 3.10 sends tags as an array; older versions as a comma-separated string. */
export function tagList(tags: string[] | string | undefined): string[] {
  if (Array.isArray(tags)) return tags;
  return (tags ?? '').split(',').filter(Boolean);
}
