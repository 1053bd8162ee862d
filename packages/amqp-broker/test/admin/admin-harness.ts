/**
 * A broker plus its management listener on free ports, for the admin tests, and a few HTTP helpers.
 */

import { AdminServer, type AdminServerOptions } from '../../src/admin/index.js';
import { BrokerServer } from '../../src/index.js';

export interface AdminHarness {
  readonly broker: BrokerServer;
  readonly admin: AdminServer;
  readonly amqpUrl: string;
  readonly baseUrl: string;
  close(): Promise<void>;
}

export const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

export async function startAdminHarness(
  brokerOptions: ConstructorParameters<typeof BrokerServer>[0] = {},
  adminOptions: Partial<AdminServerOptions> = {},
): Promise<AdminHarness> {
  const broker = new BrokerServer({ port: 0, vhosts: ['/', 'other'], ...brokerOptions });
  await broker.start();
  const admin = new AdminServer({ broker, port: 0, statsIntervalMs: 60_000, ...adminOptions });
  await admin.start();
  return {
    broker,
    admin,
    amqpUrl: `amqp://guest:guest@127.0.0.1:${broker.port}`,
    baseUrl: `${adminOptions.tls ? 'https' : 'http'}://127.0.0.1:${admin.port}`,
    async close() {
      await admin.close();
      await broker.close();
    },
  };
}

/** Polls `check` until it returns a value other than undefined (deadline `timeoutMs`). */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((r) => setTimeout(r, 50));
  }
}
