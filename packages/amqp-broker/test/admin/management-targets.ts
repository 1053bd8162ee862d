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

/** RabbitMQ's side, once its management plugin answers. */
export async function rabbitManagementTarget(): Promise<ManagementTarget> {
  const managementUrl = await ensureRabbitmqManagement();
  const rabbitAmqp = new URL(inject('rabbitmqUrl'));
  return {
    api: managementApi(managementUrl, 'guest', 'guest'),
    amqpBase: `amqp://${rabbitAmqp.hostname}:${rabbitAmqp.port || 5672}`,
  };
}

/** Our side: a broker and its management listener just started; the caller closes `harness`. */
export async function ourManagementTarget(
  brokerOptions?: Parameters<typeof startAdminHarness>[0],
): Promise<{ target: ManagementTarget; harness: AdminHarness }> {
  const harness = await startAdminHarness(brokerOptions);
  const target = {
    api: managementApi(harness.baseUrl, 'guest', 'guest'),
    amqpBase: `amqp://127.0.0.1:${harness.broker.port}`,
  };
  return { target, harness };
}

/** Waits for RabbitMQ's management plugin and starts ours; the caller closes `harness`. */
export async function managementTargets(): Promise<{
  rabbit: ManagementTarget;
  ours: ManagementTarget;
  harness: AdminHarness;
}> {
  const rabbit = await rabbitManagementTarget();
  const { target: ours, harness } = await ourManagementTarget();
  return { rabbit, ours, harness };
}
