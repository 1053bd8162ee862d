/** Building blocks for scenarios that speak raw AMQP frames, on our broker and on RabbitMQ alike. */
import type { FieldTable } from '../../src/codec/field-table.js';
import { type AmqpMethod, MethodId } from '../../src/codec/generated/amqp-spec.js';
import type { DifferentialScenario } from './differential-suite.js';
import { RawClient } from './raw-client.js';

/**
 * queue.declare, exclusive so that RabbitMQ removes the queue with the connection (an auto-delete queue
 * that was never consumed would stay behind).
 */
export function queueDeclare(
  queue: string,
  options: { passive?: boolean; autoDelete?: boolean; arguments?: FieldTable } = {},
): AmqpMethod {
  return {
    id: MethodId.QueueDeclare,
    ticket: 0,
    queue,
    passive: options.passive ?? false,
    durable: false,
    exclusive: true,
    autoDelete: options.autoDelete ?? false,
    nowait: false,
    arguments: options.arguments ?? new Map(),
  };
}

/** exchange.declare of a transient exchange without arguments. */
export function exchangeDeclare(exchange: string, type: string): AmqpMethod {
  return {
    id: MethodId.ExchangeDeclare,
    ticket: 0,
    exchange,
    type,
    passive: false,
    durable: false,
    autoDelete: false,
    internal: false,
    nowait: false,
    arguments: new Map(),
  };
}

/**
 * Turns raw-socket scenarios into `differentialSuite` scenarios: each runs on a fresh connection that has
 * done the handshake, closed afterwards whatever happened.
 */
export function rawScenarios(
  scenarios: Readonly<Record<string, (c: RawClient) => Promise<unknown>>>,
): Record<string, DifferentialScenario> {
  return Object.fromEntries(
    Object.entries(scenarios).map(([name, scenario]) => [
      name,
      async ({ url }: { url: string }) => {
        const u = new URL(url);
        const c = await RawClient.connect(Number(u.port), u.hostname);
        try {
          await c.handshake();
          return await scenario(c);
        } finally {
          c.close();
        }
      },
    ]),
  );
}
