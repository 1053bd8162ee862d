/**
 * Makes sure the machine's RabbitMQ serves its management API (15672) and Prometheus endpoint (15692),
 * enabling the plugins with `rabbitmq-plugins` when they do not answer yet, then polling until both do.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Options of {@link ensureRabbitMQManagement}. */
export interface EnsureRabbitMQManagementOptions {
  /** Management API base URL. @defaultValue `RABBITMQ_MANAGEMENT_URL` or 'http://127.0.0.1:15672' */
  managementUrl?: string;
  /** Prometheus base URL. @defaultValue `RABBITMQ_PROMETHEUS_URL` or 'http://127.0.0.1:15692' */
  prometheusUrl?: string;
  /** How long to wait for both to answer after enabling, in milliseconds. @defaultValue 120000 */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Where the management API and the Prometheus endpoint answer. */
export interface RabbitMQManagement {
  readonly managementUrl: string;
  readonly prometheusUrl: string;
}

async function answers(url: string, signal?: AbortSignal): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: signal ?? AbortSignal.timeout(5_000) });
    await res.arrayBuffer();
    // Without credentials the management API answers 401: it is up.
    return res.status === 200 || res.status === 401;
  } catch {
    return false;
  }
}

/**
 * Resolves once RabbitMQ's management API and Prometheus endpoint both answer; runs
 * `rabbitmq-plugins enable rabbitmq_management rabbitmq_prometheus` first when one does not.
 *
 * @throws Error naming what did not come up (and the output of `rabbitmq-plugins`) after `timeoutMs`.
 */
export async function ensureRabbitMQManagement(
  options: EnsureRabbitMQManagementOptions = {},
): Promise<RabbitMQManagement> {
  const managementUrl =
    options.managementUrl ?? process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';
  const prometheusUrl =
    options.prometheusUrl ?? process.env.RABBITMQ_PROMETHEUS_URL ?? 'http://127.0.0.1:15692';
  const up = async () =>
    (await answers(`${managementUrl}/api/overview`, options.signal)) &&
    (await answers(`${prometheusUrl}/metrics`, options.signal));
  if (await up()) return { managementUrl, prometheusUrl };
  let output = '';
  try {
    const r = await run('rabbitmq-plugins', ['enable', 'rabbitmq_management', 'rabbitmq_prometheus'], {
      timeout: 120_000,
    });
    output = `${r.stdout}${r.stderr}`;
  } catch (err) {
    output = (err as Error).message;
  }
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  while (Date.now() < deadline) {
    options.signal?.throwIfAborted();
    if (await up()) return { managementUrl, prometheusUrl };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `RabbitMQ's management API (${managementUrl}) or Prometheus endpoint (${prometheusUrl}) did not answer ` +
      `after enabling the plugins: ${output.trim()}`,
  );
}
