/** Options of {@link BrokerServer.closeConnection}. */
export interface CloseConnectionOptions {
  /**
   * Text sent in connection.close after the reply code's name (`CONNECTION_FORCED - <reason>`), as
   * `rabbitmqctl close_connection <connection> <reason>` does. Cut to fit the 255-byte reply text.
   * @defaultValue 'Closed via BrokerServer.closeConnection'
   */
  reason?: string;
  /**
   * Reply code of the connection.close: a connection-level (hard) AMQP code, one of 320, 402, 501–506,
   * 530, 540, 541. RabbitMQ always uses 320 CONNECTION_FORCED; other codes let a test act out other
   * hard errors.
   * @defaultValue 320
   */
  replyCode?: number;
}

/** Defaults of {@link CloseConnectionOptions}. */
export const CLOSE_CONNECTION_DEFAULTS = {
  reason: 'Closed via BrokerServer.closeConnection',
  replyCode: 320,
} as const;
