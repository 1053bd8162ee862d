import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const RABBITMQCTL = process.env.RABBITMQCTL ?? '/usr/sbin/rabbitmqctl';

/**
 * Closes, from the broker's side, every connection whose `connection_name` client property is `name`
 * (RabbitMQ only; the client sees connection.close with 320 CONNECTION_FORCED). Returns how many.
 */
export async function closeConnectionsNamed(name: string): Promise<number> {
  // The tab-separated form prints pids as close_connection wants them (`<rabbit@host.1.2.3>`).
  const { stdout } = await run(RABBITMQCTL, ['list_connections', 'pid', 'client_properties', '-q']);
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(`{"connection_name","${name}"}`))
    .map((line) => line.split('\t')[0]?.trim() ?? '')
    .filter((pid) => pid.startsWith('<'));
  for (const pid of pids)
    await run(RABBITMQCTL, ['close_connection', pid, 'test: killed from the server side']);
  return pids.length;
}
