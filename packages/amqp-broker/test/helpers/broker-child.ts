import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
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

const script = fileURLToPath(new URL('./broker-process.ts', import.meta.url));

/**
 * Starts our broker in a child process (test/helpers/broker-process.ts) and waits until it listens.
 * Rejects with the child's error (message and `code`) when it cannot start.
 */
export async function startBrokerChild(options: BrokerServerOptions = {}): Promise<BrokerChild> {
  const child = fork(script, [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  type First = { port?: number; error?: string; code?: string; recovery?: Record<string, number> };
  const first: First = await Promise.race([
    once(child, 'message').then(([m]) => m as First),
    exited.then(([code]): First => ({ error: `broker exited with ${String(code)} before listening` })),
  ]);
  if (first.port === undefined) {
    child.kill('SIGKILL');
    throw Object.assign(new Error(first.error ?? 'broker did not start'), { code: first.code });
  }
  const port = first.port;
  const done = async () => {
    if (child.exitCode === null && child.signalCode === null) await exited;
  };
  return {
    child,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    recovery: first.recovery,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.send('stop');
      await done();
    },
    kill: async () => {
      child.kill('SIGKILL');
      await done();
    },
    stats: () => {
      const reply = new Promise<BrokerChildStats>((resolve) => {
        const onMessage = (m: { stats?: BrokerChildStats }) => {
          if (m.stats === undefined) return;
          child.off('message', onMessage);
          resolve(m.stats);
        };
        child.on('message', onMessage);
      });
      child.send('stats-gc');
      return reply;
    },
  };
}
