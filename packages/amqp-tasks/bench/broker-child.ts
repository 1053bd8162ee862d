import { fileURLToPath } from 'node:url';
import { forkChild } from '@dispatcher/tooling/child-harness';

/** Our broker running in a child process (see `broker-process.ts`). */
export interface BrokerChild {
  /** `amqp://guest:guest@127.0.0.1:PORT` */
  readonly url: string;
  /** The child's process id (for `ps`/`top` while the bench runs). */
  readonly pid: number | undefined;
  /** Closes the broker gracefully and waits for the process to exit. */
  stop(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('./broker-process.ts', import.meta.url));

/**
 * Starts `broker-process.ts` with the same Node flags as this process (the tsx loader) and waits for the
 * port it sends, at most `timeoutMs`.
 */
export async function startBrokerChild(timeoutMs = 15_000): Promise<BrokerChild> {
  let timer: NodeJS.Timeout | undefined;
  const started = forkChild<{ port: number }>(SCRIPT, { execArgv: process.execArgv });
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`broker child sent no port within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    const child = await Promise.race([started, timedOut]);
    return {
      url: `amqp://guest:guest@127.0.0.1:${child.ready.port}`,
      pid: child.child.pid,
      stop: () => child.stop(),
    };
  } catch (err) {
    void started.then(
      (child) => child.kill(),
      () => undefined,
    );
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
