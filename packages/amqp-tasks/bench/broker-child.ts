import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

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
  const child = spawn(process.execPath, [...process.execArgv, SCRIPT], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await readPort(child, timeoutMs).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  const exited = once(child, 'exit');
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

function readPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(
      () => fail(new Error(`broker child printed no port within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onExit = (code: number | null) => fail(new Error(`broker child exited (${code}) before listening`));
    function fail(err: Error): void {
      clearTimeout(timer);
      lines.close();
      child.off('exit', onExit);
      reject(err);
    }
    child.once('exit', onExit);
    child.once('error', fail);
    lines.once('line', (line) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      lines.close();
      child.stdout?.resume(); // anything printed later is discarded, never left to fill the pipe
      const port = (JSON.parse(line) as { port?: unknown }).port;
      if (typeof port === 'number') resolve(port);
      else reject(new Error(`unexpected line from broker child: ${line}`));
    });
  });
}
