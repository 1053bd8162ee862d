/**
 * RabbitMQ's own CLI, for the differential tests of broker-side operations.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const RABBITMQCTL = process.env.RABBITMQCTL ?? '/usr/sbin/rabbitmqctl';

/**
 * `rabbitmqctl close_connection` for every connection whose `connection_name` client property is `name`
 * (the client sees connection.close 320 `CONNECTION_FORCED - <reason>`). Returns how many were closed.
 */
export async function rabbitmqCloseConnectionsNamed(name: string, reason: string): Promise<number> {
  // The tab-separated form prints pids as close_connection wants them (`<rabbit@host.1.2.3>`).
  const { stdout } = await run(RABBITMQCTL, ['list_connections', 'pid', 'client_properties', '-q']);
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(`{"connection_name","${name}"}`))
    .map((line) => line.split('\t')[0]?.trim() ?? '')
    .filter((pid) => pid.startsWith('<'));
  for (const pid of pids) await run(RABBITMQCTL, ['close_connection', pid, reason]);
  return pids.length;
}

/**
 * Runs `fn` with a vhost of its own on RabbitMQ (guest may do everything in it) carrying the given vhost
 * limits (`max-queues`, `max-connections`), and deletes the vhost afterwards whatever happens.
 */
export async function withRabbitmqVhost<T>(
  vhost: string,
  limits: Readonly<Record<string, number>>,
  fn: () => Promise<T>,
): Promise<T> {
  await run(RABBITMQCTL, ['add_vhost', vhost]);
  try {
    await run(RABBITMQCTL, ['set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
    await run(RABBITMQCTL, ['set_vhost_limits', '-p', vhost, JSON.stringify(limits)]);
    return await fn();
  } finally {
    await run(RABBITMQCTL, ['delete_vhost', vhost]);
  }
}

/** Runs `rabbitmqctl <args>` and resolves with its standard output. */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run(RABBITMQCTL, args);
  return stdout;
}
