import { BrokerServer } from '@dispatcher/amqp-broker';
import { rabbitmqCloseConnectionsNamed } from '@dispatcher/tooling';
import type { BrokerTarget } from '../brokers.js';

/** A broker a test can close connections on from the server side, as an operator would. */
export interface ServerSideCloser {
  /** URL to connect to; connections made through it can be closed by {@link ServerSideCloser.closeConnectionsNamed}. */
  readonly url: string;
  /**
   * Closes every connection whose `connection_name` client property is `name` with connection.close 320
   * CONNECTION_FORCED; returns how many.
   */
  closeConnectionsNamed(name: string): Promise<number>;
  /** Releases what the closer started. */
  close(): Promise<void>;
}

const REASON = 'test: killed from the server side';

/**
 * RabbitMQ: the target itself, through `rabbitmqctl close_connection`. Our broker: the shared one lives in
 * vitest's main process, out of a test's reach, so this starts a `BrokerServer` (the same code) in the test
 * worker and uses its `closeConnection()`.
 */
export async function serverSideCloser(target: BrokerTarget): Promise<ServerSideCloser> {
  switch (target.name) {
    case 'rabbitmq':
      return {
        url: target.url,
        closeConnectionsNamed: (name) => rabbitmqCloseConnectionsNamed(name, REASON),
        close: () => Promise.resolve(),
      };
    case 'amqp-broker': {
      const broker = new BrokerServer({ port: 0, host: '127.0.0.1' });
      await broker.start();
      return {
        url: `amqp://guest:guest@127.0.0.1:${broker.port}`,
        closeConnectionsNamed: (name) => broker.closeConnection(name, { reason: REASON }),
        close: () => broker.close(),
      };
    }
    default: {
      const unreachable: never = target.name;
      throw new Error(`unknown broker target ${String(unreachable)}`);
    }
  }
}
