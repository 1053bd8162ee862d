/** A consumer of a channel, as {@link ChannelInfo} lists it (RabbitMQ's `list_consumers`). */
export interface ConsumerInfo {
  readonly tag: string;
  /** The queue it consumes from (in the connection's vhost). */
  readonly queue: string;
  /** False for no-ack consumers. */
  readonly ackRequired: boolean;
  readonly exclusive: boolean;
  /** Its prefetch (basic.qos global=false at consume time); 0: unlimited. */
  readonly prefetch: number;
  /** Its `x-priority`. */
  readonly priority: number;
}

/** An open channel of a connection, as {@link ConnectionInfo} lists it (RabbitMQ's `list_channels`). */
export interface ChannelInfo {
  readonly number: number;
  readonly consumerCount: number;
  /** Deliveries not acknowledged yet. */
  readonly unackedCount: number;
  /** Prefetch of consumers created from now on (0: unlimited). */
  readonly prefetchCount: number;
  readonly consumers: readonly ConsumerInfo[];
}

/** An open client connection, as {@link BrokerServer.connections} lists it (RabbitMQ's `list_connections`). */
export interface ConnectionInfo {
  /** RabbitMQ's connection name: `client address:port -> server address:port`. */
  readonly name: string;
  /** The client's `connection_name` property (RabbitMQ's `user_provided_name`), if it sent one. */
  readonly clientProvidedName: string | undefined;
  /** The user that logged in; undefined while the handshake has not authenticated yet. */
  readonly user: string | undefined;
  /** The virtual host; undefined until connection.open. */
  readonly vhost: string | undefined;
  /** The client's address and port. */
  readonly peerHost: string;
  readonly peerPort: number;
  /** The broker's address and port of the connection. */
  readonly host: string;
  readonly port: number;
  /** When the socket was accepted, in milliseconds since the epoch. */
  readonly connectedAt: number;
  /** Negotiated heartbeat, in seconds (0: none). */
  readonly heartbeatSeconds: number;
  /** Negotiated largest frame, in bytes. */
  readonly frameMax: number;
  readonly channelMax: number;
  /** Blocked by a resource alarm. */
  readonly blocked: boolean;
  readonly channels: readonly ChannelInfo[];
}
