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
}
