import type { Channel } from 'amqplib';

/** A queue declared by the server at every (re)connection, with the keys binding it to the exchange. */
export interface QueueSpec {
  /** Queue name. */
  name: string;
  /** Binding keys on the server's exchange. */
  bindingKeys?: readonly string[];
  /**
   * Highest priority the queue honours (`x-max-priority`), 1–255; omit for no priorities. Every
   * declaration of a queue must agree on it (the broker refuses a mismatch with 406).
   */
  maxPriority?: number;
  /** Extra queue arguments (`x-queue-type`, `x-max-length`, `x-overflow`…). */
  arguments?: Record<string, unknown>;
}

/** Exchange types the server can declare. */
export type ExchangeType = 'direct' | 'topic' | 'fanout' | 'headers';

/** Declares the exchange as the Go library does: durable, not auto-deleted. */
export async function declareExchange(channel: Channel, exchange: string, type: ExchangeType): Promise<void> {
  await channel.assertExchange(exchange, type, { durable: true, autoDelete: false });
}

/** Declares a durable queue and binds it to `exchange` with each of its binding keys. */
export async function declareQueue(channel: Channel, exchange: string, spec: QueueSpec): Promise<void> {
  const args: Record<string, unknown> = { ...spec.arguments };
  if (spec.maxPriority !== undefined) args['x-max-priority'] = spec.maxPriority;
  await channel.assertQueue(spec.name, {
    durable: true,
    autoDelete: false,
    exclusive: false,
    arguments: args,
  });
  for (const key of spec.bindingKeys ?? []) await channel.bindQueue(spec.name, exchange, key);
}

/** Name of the dead-letter queue of `queue`. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead`;
}

/** Declares the dead-letter queue of `queue` (durable, no TTL: dead tasks wait for a human). */
export async function declareDeadLetterQueue(channel: Channel, queue: string): Promise<string> {
  const name = deadLetterQueueName(queue);
  await channel.assertQueue(name, { durable: true, autoDelete: false, exclusive: false });
  return name;
}
