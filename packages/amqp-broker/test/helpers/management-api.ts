/**
 * A small client of a RabbitMQ-compatible management API for test set-up and for checking what the page did
 * (RabbitMQ's own plugin on 15672, or dispatchd's admin listener). Enables RabbitMQ's plugin when absent.
 */
import { execFile } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** RabbitMQ's management listener on this machine. */
export const RABBITMQ_MANAGEMENT_URL = process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';

export interface ManagementApi {
  readonly baseUrl: string;
  /** Sends a request below `/api/`; resolves with the status and parsed body (undefined when empty). */
  call: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: unknown }>;
}

export function managementApi(baseUrl: string, username: string, password: string): ManagementApi {
  const authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  return {
    baseUrl,
    async call(method, path, body) {
      const res = await fetch(`${baseUrl}/api/${path}`, {
        method,
        headers: {
          authorization,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
    },
  };
}

async function answers(baseUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${baseUrl}/api/overview`, { signal: AbortSignal.timeout(5_000) });
    await res.body?.cancel();
    return res.status === 401 || res.ok;
  } catch {
    return false;
  }
}

/**
 * Makes sure RabbitMQ's management plugin answers on {@link RABBITMQ_MANAGEMENT_URL}: enables it with
 * `rabbitmq-plugins` when it does not, then polls until it answers.
 *
 * @throws when it still does not answer after `timeoutMs` (milliseconds, default 90 000).
 */
export async function ensureRabbitmqManagement(timeoutMs = 90_000): Promise<string> {
  const baseUrl = RABBITMQ_MANAGEMENT_URL;
  if (await answers(baseUrl)) return baseUrl;
  await run('rabbitmq-plugins', ['enable', 'rabbitmq_management']);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await answers(baseUrl)) return baseUrl;
    await delay(500);
  }
  throw new Error(`RabbitMQ's management API does not answer on ${baseUrl} after enabling the plugin`);
}
