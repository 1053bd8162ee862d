import { inject } from 'vitest';

/** A broker the integration suite runs against. */
export interface BrokerTarget {
  readonly name: string;
  readonly url: string;
}

/**
 * Every broker the suite runs against. Today RabbitMQ only; `@dispatcher/amqp-broker` joins here once it
 * exists (CI runs the same suite on both), e.g. `{ name: 'amqp-broker', url: inject('amqpBrokerUrl') }`.
 */
export function brokerTargets(): BrokerTarget[] {
  return [{ name: 'rabbitmq', url: inject('rabbitmqUrl') }];
}
