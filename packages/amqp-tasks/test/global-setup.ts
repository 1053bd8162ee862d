import { BrokerServer } from '@dispatcher/amqp-broker';
import { type ServicesProject, setupServices } from '@dispatcher/tooling/vitest-services';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `amqp://guest:guest@127.0.0.1:PORT` of our own broker, started in-process for the run. */
    amqpBrokerUrl: string;
  }
}

const services = setupServices(['rabbitmq']);

/**
 * Checks RabbitMQ and starts `@dispatcher/amqp-broker` on a free port, so every integration test runs
 * against both (see `brokers.ts`). The broker lives in vitest's main process, the tests in its workers.
 */
export default async function setup(project: ServicesProject): Promise<() => Promise<void>> {
  const stopServices = await services(project);
  const broker = new BrokerServer({ port: 0, host: '127.0.0.1' });
  try {
    await broker.start();
  } catch (error) {
    await stopServices();
    throw error;
  }
  project.provide('amqpBrokerUrl', `amqp://guest:guest@127.0.0.1:${broker.port}`);
  return async () => {
    try {
      await broker.close();
    } finally {
      await stopServices();
    }
  };
}
