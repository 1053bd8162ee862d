/**
 * The brokers a differential test runs against: ours (in-process, port 0) and RabbitMQ.
 */
import { BrokerServer, type BrokerServerOptions } from '../../src/index.js';

export interface Target {
  readonly name: 'dispatcher' | 'rabbitmq';
  readonly host: string;
  readonly port: number;
  readonly url: string;
}

export async function startBroker(
  options: BrokerServerOptions = {},
): Promise<{ server: BrokerServer; target: Target }> {
  const server = new BrokerServer({ port: 0, ...options });
  await server.start();
  return {
    server,
    target: {
      name: 'dispatcher',
      host: '127.0.0.1',
      port: server.port,
      url: `amqp://guest:guest@127.0.0.1:${server.port}`,
    },
  };
}

export function rabbitTarget(url: string): Target {
  const u = new URL(url);
  return { name: 'rabbitmq', host: u.hostname, port: Number(u.port || 5672), url };
}

/** A name no other test (or earlier run) uses. */
export function uniqueName(prefix: string): string {
  return `dsp-test-${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
