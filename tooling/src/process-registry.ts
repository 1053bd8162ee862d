import { rmSync } from 'node:fs';

/** A service process that must not outlive the test process that started it. */
export interface TrackedProcess {
  /** Human-readable service name, e.g. `redis-server`. */
  readonly name: string;
  readonly pid: number;
  /** Private directory to delete when the process is killed on exit, if any. */
  readonly removeDir?: string;
}

const tracked = new Set<TrackedProcess>();
const EXIT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let hooksInstalled = false;

/**
 * Registers a started service so that exit of the test process (normal exit, uncaught exception,
 * SIGINT/SIGTERM/SIGHUP) kills it and removes its private directory.
 *
 * @returns A function that unregisters the entry; call it once the service has been stopped cleanly.
 */
export function trackProcess(entry: TrackedProcess): () => void {
  installHooks();
  tracked.add(entry);
  return () => {
    tracked.delete(entry);
  };
}

/** Snapshot of the services currently registered by this process (used by tests to assert clean-up). */
export function trackedProcesses(): TrackedProcess[] {
  return [...tracked];
}

/**
 * Kills every registered service with SIGKILL and deletes its directory, synchronously.
 *
 * Synchronous because an `exit` listener cannot wait; SIGKILL because the services hold only throw-away
 * test data and there is no time for a graceful shutdown.
 */
export function killTrackedProcessesSync(): void {
  for (const entry of tracked) {
    try {
      process.kill(entry.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    if (entry.removeDir) rmSync(entry.removeDir, { recursive: true, force: true, maxRetries: 3 });
  }
  tracked.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killTrackedProcessesSync);
  for (const signal of EXIT_SIGNALS) {
    const onSignal = (): void => {
      killTrackedProcessesSync();
      // A signal listener replaces Node's default "terminate" action. When nobody else (such as vitest)
      // handles the signal, re-raise it without our listener so the process still dies as it would have.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}
