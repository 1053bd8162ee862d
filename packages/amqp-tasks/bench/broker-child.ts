import { fileURLToPath } from 'node:url';
import { spawnJsonLineChild } from './json-line-child.js';

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
 * port it prints, at most `timeoutMs`.
 */
export async function startBrokerChild(timeoutMs = 15_000): Promise<BrokerChild> {
  const child = spawnJsonLineChild(SCRIPT);
  try {
    const { port } = await child.next(timeoutMs);
    if (typeof port !== 'number') throw new Error(`unexpected first line from broker child: port ${port}`);
    return { url: `amqp://guest:guest@127.0.0.1:${port}`, pid: child.pid, stop: () => child.stop() };
  } catch (err) {
    await child.stop();
    throw err;
  }
}
