import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { forkChild } from '@dispatcher/tooling/child-harness';
import type { BrokerServerOptions, ResourceAlarmStatus } from '../../src/index.js';

export interface BrokerChild {
  child: ChildProcess;
  port: number;
  url: string;
  recovery: Record<string, number> | undefined;
  /** Graceful: close() in the child, then wait for its exit. */
  stop(): Promise<void>;
  /** kill -9 and wait for the exit. */
  kill(): Promise<void>;
  /** The child's `process.memoryUsage()` and resource alarm figures, after a full collection. */
  stats(): Promise<BrokerChildStats>;
}

export interface BrokerChildStats {
  memory: NodeJS.MemoryUsage;
  alarms: ResourceAlarmStatus;
}

/** The child script (test/helpers/broker-process.ts), for tests that fork it with options of their own. */
export const BROKER_PROCESS_SCRIPT = fileURLToPath(new URL('./broker-process.ts', import.meta.url));

/**
 * Starts our broker in a child process (test/helpers/broker-process.ts) and waits until it listens.
 * Rejects with the child's error (message and `code`) when it cannot start.
 */
export async function startBrokerChild(options: BrokerServerOptions = {}): Promise<BrokerChild> {
  const forked = await forkChild<{ port: number; recovery?: Record<string, number> }>(BROKER_PROCESS_SCRIPT, {
    args: [JSON.stringify(options)],
  });
  const { port, recovery } = forked.ready;
  return {
    child: forked.child,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    recovery,
    stop: () => forked.stop(),
    kill: () => forked.kill(),
    stats: async () => (await forked.request<{ stats: BrokerChildStats }>('stats-gc', 'stats')).stats,
  };
}
