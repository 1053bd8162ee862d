import { inject } from 'vitest';

/** A broker the integration suite runs against. */
export interface BrokerTarget {
  readonly name: 'rabbitmq' | 'amqp-broker';
  readonly url: string;
}

/**
 * Every broker the suite runs against (CI runs the same suite on both): RabbitMQ, and our own
 * `@dispatcher/amqp-broker`, started in-process on a free port by `global-setup.ts`.
 */
export function brokerTargets(): BrokerTarget[] {
  return [
    { name: 'rabbitmq', url: inject('rabbitmqUrl') },
    { name: 'amqp-broker', url: inject('amqpBrokerUrl') },
  ];
}
