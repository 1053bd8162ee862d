import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ensureBinary } from './ensure-binary.js';
import { getFreePort } from './free-port.js';
import { launchManagedProcess, type ManagedProcess, ServiceStartError } from './managed-process.js';
import { createServiceStateDir, reapOrphanedServices } from './service-state-dir.js';
import { tcpExchange } from './tcp-exchange.js';

/** Options for {@link startBeanstalkd}. */
export interface StartBeanstalkdOptions {
  /**
   * Keep a binlog (`-b`) in a private directory that lives as long as the service, including across
   * {@link BeanstalkdService.restart}; it is deleted by the final `stop()`.
   */
  binlog?: boolean;
  /**
   * Keep the binlog in this directory instead (created if missing). It belongs to the caller and is never
   * deleted, so a later `startBeanstalkd({ binlogDir })` can recover the jobs.
   */
  binlogDir?: string;
  /** Listen on this port instead of a free one (no retry on another port if it is taken). */
  port?: number;
  /**
   * Largest job body the server accepts, in bytes (`-z`; beanstalkd's default is 65535). A put above it is
   * answered `JOB_TOO_BIG`, which is how tests reach that path without megabyte bodies.
   */
  maxJobSizeBytes?: number;
  /** Aborts start-up (the half-started server is killed). */
  signal?: AbortSignal;
  /** How long beanstalkd may take to answer `stats` (default 15 s). */
  readyTimeoutMs?: number;
}

/** Options for {@link BeanstalkdService.restart}. */
export interface RestartBeanstalkdOptions {
  /** Kill with SIGKILL instead of SIGTERM, to test recovery from a crash. */
  crash?: boolean;
}

/** A private beanstalkd started by {@link startBeanstalkd}. */
export interface BeanstalkdService {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** Private working directory (holds the binlog when `binlog: true`), deleted by the final `stop()`. */
  readonly dir: string;
  /** Directory given to `-b`, or undefined when running without a binlog. */
  readonly binlogDir: string | undefined;
  /** SIGTERM, wait for exit (SIGKILL after 5 s), delete the private directory. Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops this server and starts a new one on the same port and binlog, e.g. to test that jobs survive.
   * The returned service replaces this one: stop the returned service; this handle's `stop()` becomes a no-op.
   */
  restart(options?: RestartBeanstalkdOptions): Promise<BeanstalkdService>;
}

const HOST = '127.0.0.1';
const PORT_ATTEMPTS = 5;
// A fixed port may still be held for a moment by the server just stopped; retry it for this long.
const FIXED_PORT_RETRY_MS = 3_000;
let reaped: Promise<unknown> | undefined;

/**
 * Starts a throw-away beanstalkd on 127.0.0.1 (a free port unless `port` is given) and waits until it
 * answers `stats`. The server is killed when the test process exits even if `stop()` is never called.
 */
export async function startBeanstalkd(options: StartBeanstalkdOptions = {}): Promise<BeanstalkdService> {
  const binary = await ensureBinary('beanstalkd', { debianPackage: 'beanstalkd' });
  reaped ??= reapOrphanedServices().catch(() => 0);
  await reaped;
  const max = options.maxJobSizeBytes;
  if (max !== undefined && (!Number.isInteger(max) || max < 1))
    throw new RangeError(`maxJobSizeBytes must be a positive integer, got ${String(max)}`);
  const stateDir = await createServiceStateDir('beanstalkd', binary);
  try {
    const binlogDir = options.binlogDir ?? (options.binlog ? join(stateDir, 'binlog') : undefined);
    if (binlogDir) await mkdir(binlogDir, { recursive: true });
    return await launch({ ...options, binary, stateDir, binlogDir });
  } catch (error) {
    await rm(stateDir, { recursive: true, force: true });
    throw error;
  }
}

interface LaunchBeanstalkdOptions extends StartBeanstalkdOptions {
  binary: string;
  stateDir: string;
  binlogDir: string | undefined;
}

async function launch(options: LaunchBeanstalkdOptions): Promise<BeanstalkdService> {
  const { binary, stateDir, binlogDir } = options;
  const fixedPortDeadline = Date.now() + FIXED_PORT_RETRY_MS;
  for (let attempt = 1; ; attempt += 1) {
    const port = options.port ?? (await getFreePort(HOST));
    let server: ManagedProcess;
    try {
      server = await launchManagedProcess({
        name: 'beanstalkd',
        binary,
        endpoint: `${HOST}:${port}`,
        stateDir,
        args: [
          '-l',
          HOST,
          '-p',
          String(port),
          ...(binlogDir ? ['-b', binlogDir] : []),
          ...(options.maxJobSizeBytes === undefined ? [] : ['-z', String(options.maxJobSizeBytes)]),
        ],
        probe: (pid, signal) => beanstalkdAnswersAs(port, pid, signal),
        ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if (!(error instanceof ServiceStartError && error.addressInUse)) throw error;
      if (options.port === undefined ? attempt >= PORT_ATTEMPTS : Date.now() >= fixedPortDeadline)
        throw error;
      if (options.port !== undefined) await delay(100);
      continue;
    }

    let replaced = false;
    const service: BeanstalkdService = {
      host: HOST,
      port,
      pid: server.pid,
      dir: stateDir,
      binlogDir,
      stop: async () => {
        if (!replaced) await server.stop();
      },
      restart: async (restartOptions = {}) => {
        if (replaced)
          throw new Error('this beanstalkd was already restarted; restart the service restart() returned');
        replaced = true;
        await server.stop({ signal: restartOptions.crash ? 'SIGKILL' : 'SIGTERM', keepStateDir: true });
        try {
          return await launch({ ...options, port, stateDir, binlogDir });
        } catch (error) {
          await rm(stateDir, { recursive: true, force: true });
          throw error;
        }
      },
    };
    return service;
  }
}

/** Sends `stats`; ready when the reply is `OK <bytes>` and its `pid:` line is ours. */
async function beanstalkdAnswersAs(port: number, pid: number, signal: AbortSignal): Promise<boolean> {
  const reply = await tcpExchange({
    host: HOST,
    port,
    send: 'stats\r\n',
    signal,
    until: (received) => parseStats(received.toString('latin1')) !== undefined,
  });
  const stats = parseStats(reply.toString('latin1'));
  return stats !== undefined && new RegExp(`^pid: ${pid}$`, 'm').test(stats);
}

/** Returns the YAML body of `OK <bytes>\r\n<body>\r\n`, '' for any other reply, undefined while incomplete. */
function parseStats(text: string): string | undefined {
  const headerEnd = text.indexOf('\r\n');
  if (headerEnd < 0) return undefined;
  const match = /^OK (\d+)$/.exec(text.slice(0, headerEnd));
  if (!match) return '';
  const length = Number(match[1]);
  const body = text.slice(headerEnd + 2);
  return body.length < length + 2 ? undefined : body.slice(0, length);
}
