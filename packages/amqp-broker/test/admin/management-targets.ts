/**
 * The two sides of an admin differential test: RabbitMQ (the machine's management API and AMQP port) and
 * ours (a fresh broker with its management listener), both logged in as guest.
 */
import { inject } from 'vitest';
import { ensureRabbitmqManagement, type ManagementApi, managementApi } from '../helpers/management-api.js';
import { type AdminHarness, startAdminHarness } from './admin-harness.js';

export interface ManagementTarget {
  readonly api: ManagementApi;
  /** `amqp://host:port`, without credentials or vhost. */
  readonly amqpBase: string;
}

/** Waits for RabbitMQ's management plugin and starts ours; the caller closes `harness`. */
export async function managementTargets(): Promise<{
  rabbit: ManagementTarget;
  ours: ManagementTarget;
  harness: AdminHarness;
}> {
  const managementUrl = await ensureRabbitmqManagement();
  const rabbitAmqp = new URL(inject('rabbitmqUrl'));
  const rabbit = {
    api: managementApi(managementUrl, 'guest', 'guest'),
    amqpBase: `amqp://${rabbitAmqp.hostname}:${rabbitAmqp.port || 5672}`,
  };
  const harness = await startAdminHarness();
  const ours = {
    api: managementApi(harness.baseUrl, 'guest', 'guest'),
    amqpBase: `amqp://127.0.0.1:${harness.broker.port}`,
  };
  return { rabbit, ours, harness };
}
