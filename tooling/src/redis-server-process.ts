import { rm } from 'node:fs/promises';
import { ensureBinary } from './ensure-binary.js';
import { getFreePort } from './free-port.js';
import { launchManagedProcess, ServiceStartError } from './managed-process.js';
import { createServiceStateDir, reapOrphanedServices } from './service-state-dir.js';
import { tcpExchange } from './tcp-exchange.js';

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /** Aborts start-up (the half-started server is killed). */
  signal?: AbortSignal;
  /** How long redis-server may take to answer PING (default 15 s). */
  readyTimeoutMs?: number;
  /** Extra command-line arguments, e.g. `['--maxmemory', '10mb']`. */
  extraArgs?: readonly string[];
}

/** A private redis-server started by {@link startRedis}. */
export interface RedisService {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** Private working directory (`--dir`), deleted by `stop()`. */
  readonly dir: string;
  /** SIGTERM, wait for exit (SIGKILL after 5 s), delete the directory. Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const PORT_ATTEMPTS = 5;
let reaped: Promise<unknown> | undefined;

/**
 * Starts a throw-away redis-server on a free 127.0.0.1 port, without persistence, and waits until it
 * answers `PING`. The server is killed when the test process exits even if `stop()` is never called.
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisService> {
  const binary = await ensureBinary('redis-server', { debianPackage: 'redis-server' });
  reaped ??= reapOrphanedServices().catch(() => 0);
  await reaped;
  const dir = await createServiceStateDir('redis', binary);
  try {
    for (let attempt = 1; ; attempt += 1) {
      // The port is free only at probe time; another process can take it before redis binds, hence retries.
      const port = await getFreePort(HOST);
      try {
        const server = await launchManagedProcess({
          name: 'redis-server',
          binary,
          endpoint: `${HOST}:${port}`,
          stateDir: dir,
          // Positional config file omitted on purpose: only these settings apply, never /etc/redis.
          args: [
            '--port',
            String(port),
            '--bind',
            HOST,
            '--dir',
            dir,
            '--save',
            '',
            '--appendonly',
            'no',
            '--protected-mode',
            'no',
            '--daemonize',
            'no',
            ...(options.extraArgs ?? []),
          ],
          probe: (pid, signal) => redisAnswersAs(port, pid, signal),
          ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
          ...(options.signal ? { signal: options.signal } : {}),
        });
        return {
          url: `redis://${HOST}:${port}`,
          host: HOST,
          port,
          pid: server.pid,
          dir,
          stop: () => server.stop(),
        };
      } catch (error) {
        if (!(error instanceof ServiceStartError && error.addressInUse && attempt < PORT_ATTEMPTS))
          throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Sends `PING` and `INFO server`; ready when the reply is `+PONG` and INFO names our pid. */
async function redisAnswersAs(port: number, pid: number, signal: AbortSignal): Promise<boolean> {
  const reply = await tcpExchange({
    host: HOST,
    port,
    send: 'PING\r\nINFO server\r\n',
    signal,
    until: (received) => parseReply(received.toString('latin1')) !== undefined,
  });
  const parsed = parseReply(reply.toString('latin1'));
  return parsed?.pong === true && parsed.info.includes(`\r\nprocess_id:${pid}\r\n`);
}

/** Parses `+PONG\r\n$N\r\n<N bytes>\r\n`; undefined while incomplete. Errors (e.g. -LOADING) count as not ready. */
function parseReply(text: string): { pong: boolean; info: string } | undefined {
  const firstEnd = text.indexOf('\r\n');
  if (firstEnd < 0) return undefined;
  const first = text.slice(0, firstEnd);
  const rest = text.slice(firstEnd + 2);
  if (first !== '+PONG') return { pong: false, info: '' };
  const headerEnd = rest.indexOf('\r\n');
  if (headerEnd < 0) return undefined;
  if (!rest.startsWith('$')) return { pong: true, info: '' };
  const length = Number(rest.slice(1, headerEnd));
  const body = rest.slice(headerEnd + 2);
  if (body.length < length) return undefined;
  return { pong: true, info: `\r\n${body.slice(0, length)}` };
}
