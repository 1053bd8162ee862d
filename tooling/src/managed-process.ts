import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { trackProcess } from './process-registry.js';
import { recordServicePid } from './service-state-dir.js';

/** Options for {@link launchManagedProcess}. */
export interface LaunchOptions {
  /** Service name used in messages, e.g. `redis-server`. */
  name: string;
  /** Absolute path of the executable. */
  binary: string;
  args: readonly string[];
  /** `host:port` the service should listen on, for messages. */
  endpoint: string;
  /** Private directory of this service: working directory, owner record, deleted by `stop()`. */
  stateDir: string;
  /**
   * One readiness attempt. Resolves true only when the service answers *and* reports `pid` as its own
   * process id, so a foreign server that won a port race is never mistaken for ours.
   */
  probe: (pid: number, signal: AbortSignal) => Promise<boolean>;
  /** How long the service may take to become ready (default 15 s). */
  readyTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Options for {@link ManagedProcess.stop}. */
export interface StopOptions {
  /** Signal sent first (default SIGTERM; SIGKILL simulates a crash). */
  signal?: NodeJS.Signals;
  /** Escalate to SIGKILL when the process has not exited after this long (default 5 s). */
  killAfterMs?: number;
  /** Keep the state directory (used to restart a service on the same data). */
  keepStateDir?: boolean;
}

/** A running service process started by {@link launchManagedProcess}. */
export interface ManagedProcess {
  readonly pid: number;
  readonly stateDir: string;
  /** The last few KiB of the process's stdout and stderr. */
  output(): string;
  hasExited(): boolean;
  /** Stops the process, waits until it is gone, then deletes the state directory. Idempotent. */
  stop(options?: StopOptions): Promise<void>;
}

/** Thrown when a service fails to start; `addressInUse` tells the caller a retry on another port may work. */
export class ServiceStartError extends Error {
  override readonly name = 'ServiceStartError';

  constructor(
    message: string,
    readonly output: string,
    readonly addressInUse: boolean,
  ) {
    super(output.trim() ? `${message}\n--- last output ---\n${output.trim()}` : message);
  }
}

const OUTPUT_TAIL_BYTES = 8_192;
const ADDRESS_IN_USE = /address already in use|EADDRINUSE/i;

/**
 * Spawns a service, registers it for clean-up on exit and waits until `probe` confirms it is ready.
 *
 * On failure the process is killed (the state directory is kept: the caller may retry in it) and a
 * {@link ServiceStartError} carrying the tail of the service's output is thrown.
 */
export async function launchManagedProcess(options: LaunchOptions): Promise<ManagedProcess> {
  const { name, binary, args, endpoint, stateDir, probe, readyTimeoutMs = 15_000, signal } = options;
  signal?.throwIfAborted();

  let tail = '';
  const child = spawn(binary, args, { cwd: stateDir, stdio: ['ignore', 'pipe', 'pipe'] });
  const collect = (chunk: Buffer): void => {
    // The pipes must be drained continuously: a full pipe would block a chatty server mid-test.
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  // Aborts a probe in flight once the process is gone, e.g. when it talks to a squatter that never answers.
  const exitController = new AbortController();
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exitController.abort(new Error(`${name} exited`));
      resolve();
    }),
  );
  const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;

  try {
    await once(child, 'spawn');
  } catch (error) {
    throw new ServiceStartError(
      `${name} could not be started (${binary}): ${(error as Error).message}`,
      tail,
      false,
    );
  }
  const pid = child.pid as number;
  const untrack = trackProcess({ name, pid, removeDir: stateDir });
  // A forgotten stop() must not keep the test process alive forever; the exit hook kills the service.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void }).unref?.();

  let stopping: Promise<void> | undefined;
  const handle: ManagedProcess = {
    pid,
    stateDir,
    output: () => tail,
    hasExited,
    stop(stopOptions: StopOptions = {}) {
      stopping ??= (async () => {
        if (!hasExited()) {
          child.kill(stopOptions.signal ?? 'SIGTERM');
          // This timer is deliberately ref'd: it keeps the event loop alive until the process is gone.
          const escalate = setTimeout(() => child.kill('SIGKILL'), stopOptions.killAfterMs ?? 5_000);
          await exited;
          clearTimeout(escalate);
        }
        untrack();
        if (!stopOptions.keepStateDir) await rm(stateDir, { recursive: true, force: true, maxRetries: 3 });
      })();
      return stopping;
    },
  };

  try {
    await recordServicePid(stateDir, binary, pid);
    await waitUntilReady();
    return handle;
  } catch (error) {
    await handle.stop({ signal: 'SIGKILL', keepStateDir: true });
    throw error;
  }

  async function waitUntilReady(): Promise<void> {
    const deadline = Date.now() + readyTimeoutMs;
    let lastProbeError: unknown;
    for (;;) {
      if (hasExited()) {
        // Give the pipes a moment to deliver the final error line, which is what makes the message useful.
        await Promise.race([
          Promise.all([once(child.stdout, 'close'), once(child.stderr, 'close')]),
          delay(200, undefined, { ref: false }),
        ]);
        const status = child.signalCode ? `signal ${child.signalCode}` : `code ${child.exitCode}`;
        throw new ServiceStartError(
          `${name} exited with ${status} before accepting connections on ${endpoint}`,
          tail,
          ADDRESS_IN_USE.test(tail),
        );
      }
      if (signal?.aborted) throw signal.reason;
      const attempt = AbortSignal.any([
        AbortSignal.timeout(1_000),
        exitController.signal,
        ...(signal ? [signal] : []),
      ]);
      try {
        if (await probe(pid, attempt)) return;
      } catch (error) {
        lastProbeError = error;
      }
      if (Date.now() >= deadline) {
        const last = lastProbeError instanceof Error ? ` (last probe: ${lastProbeError.message})` : '';
        throw new ServiceStartError(
          `${name} did not become ready on ${endpoint} within ${readyTimeoutMs} ms${last}`,
          tail,
          false,
        );
      }
      await delay(25, undefined, { signal }).catch(() => undefined);
    }
  }
}
