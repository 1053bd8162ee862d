/**
 * RabbitMQ's own CLI, for tests that act on the machine's RabbitMQ from the server side (close a client's
 * connection, create a vhost with limits, list or change users). `RABBITMQCTL` overrides the binary.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

function binary(): string {
  return process.env.RABBITMQCTL ?? '/usr/sbin/rabbitmqctl';
}

/** Runs `rabbitmqctl <args>` and resolves with its standard output (rejects when it exits non-zero). */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run(binary(), args);
  return stdout;
}

/**
 * `rabbitmqctl close_connection` for every connection whose `connection_name` client property is `name`
 * (the client sees connection.close 320 `CONNECTION_FORCED - <reason>`). Resolves with how many were closed.
 */
export async function rabbitmqCloseConnectionsNamed(
  name: string,
  reason = 'test: killed from the server side',
): Promise<number> {
  // The tab-separated form prints pids as close_connection wants them (`<rabbit@host.1.2.3>`).
  const listing = await rabbitmqctl('list_connections', 'pid', 'client_properties', '-q');
  const pids = listing
    .split('\n')
    .filter((line) => line.includes(`{"connection_name","${name}"}`))
    .map((line) => line.split('\t')[0]?.trim() ?? '')
    .filter((pid) => pid.startsWith('<'));
  for (const pid of pids) await rabbitmqctl('close_connection', pid, reason);
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
  await rabbitmqctl('add_vhost', vhost);
  try {
    await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
    await rabbitmqctl('set_vhost_limits', '-p', vhost, JSON.stringify(limits));
    return await fn();
  } finally {
    await rabbitmqctl('delete_vhost', vhost);
  }
}
