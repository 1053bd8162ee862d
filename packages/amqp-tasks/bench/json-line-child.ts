import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** A bench helper process that talks in JSON lines: one object per line on stdout, commands on stdin. */
export interface JsonLineChild {
  /** The child's process id (for `ps`/`top` while the bench runs). */
  readonly pid: number | undefined;
  /** The next object the child prints; rejects if it exits first or prints none within `timeoutMs`. */
  next(timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Writes one line to the child's standard input. */
  send(line: string): void;
  /** Waits `graceMs` for the child to exit by itself, then SIGTERM unless it exited; waits for the exit. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `script` with the same Node flags as this process (the tsx loader) and `args`. Its stderr goes to
 * ours; a child whose stdin ends (this process died) is expected to exit by itself.
 */
export function spawnJsonLineChild(script: string, args: readonly string[] = []): JsonLineChild {
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const lines: string[] = [];
  const waiters: Array<(line: string | Error) => void> = [];
  let ended: Error | undefined;
  const reader = createInterface({ input: child.stdout });
  reader.on('line', (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  child.once('exit', (code, signal) => {
    ended = new Error(`${script} exited (${code ?? signal}) before printing what was expected`);
    for (const waiter of waiters.splice(0)) waiter(ended);
  });
  return {
    pid: child.pid,
    next(timeoutMs = 600_000) {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(parse(line));
      if (ended) return Promise.reject(ended);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(take), 1);
          reject(new Error(`${script} printed nothing within ${timeoutMs} ms`));
        }, timeoutMs);
        function take(got: string | Error): void {
          clearTimeout(timer);
          if (got instanceof Error) reject(got);
          else {
            try {
              resolve(parse(got));
            } catch (err) {
              reject(err as Error);
            }
          }
        }
        waiters.push(take);
      });
    },
    send(line) {
      child.stdin.write(`${line}\n`);
    },
    async stop(graceMs = 0) {
      const running = () => child.exitCode === null && child.signalCode === null;
      if (running() && graceMs > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
        clearTimeout(timer);
      }
      if (running()) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

function parse(line: string): Record<string, unknown> {
  const value: unknown = JSON.parse(line);
  if (typeof value !== 'object' || value === null) throw new Error(`not a JSON object: ${line}`);
  return value as Record<string, unknown>;
}
