/**
 * A server run in a child process and driven over the IPC channel, for tests that must kill it (`kill -9`
 * crash tests), watch whether it survives, or measure its memory, and for benchmarks whose load must not
 * share the server's event loop. Both sides of one small protocol live here:
 *
 * - the child ({@link serveParent}) starts its server and sends one first message (`{ port, … }`), or
 *   `{ error, code }` and exits 1 when it cannot start; answers each named command with one message; and
 *   on 'stop', SIGTERM, SIGINT or the parent's going away closes the server and exits (0, or 1 when
 *   closing failed);
 * - the parent ({@link forkChild}) forks the script, waits for that first message (rejecting with the
 *   child's error and code, or when the child exits first), and sends commands, 'stop' or SIGKILL.
 *
 * A separate entry point (`@dispatcher/tooling/child-harness`): a child imports it without loading the rest
 * of tooling, so memory figures measured in the child stay the server's own.
 */
import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { once } from 'node:events';

/** What the child runs: how to start and stop its server and which commands it answers. */
export interface ServeParentOptions<Ready extends object> {
  /** Starts the server; resolves with the first message for the parent (e.g. `{ port }`). */
  start(): Promise<Ready>;
  /** Closes the server; the process exits 0 when this resolves, 1 when it rejects. */
  stop(): Promise<unknown>;
  /** Commands the parent may send by name; each result other than undefined is sent back as one message. */
  commands?: Readonly<Record<string, () => unknown>>;
}

function send(message: unknown): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) resolve();
    else process.send(message, undefined, undefined, () => resolve());
  });
}

/** The child side: runs `options` and answers the parent until it says 'stop'. */
export async function serveParent<Ready extends object>(options: ServeParentOptions<Ready>): Promise<void> {
  let ready: Ready;
  try {
    ready = await options.start();
  } catch (err) {
    await send({ error: (err as Error).message, code: (err as { code?: unknown }).code });
    process.exit(1);
  }
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    options.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('message', (m) => {
    if (m === 'stop') {
      stop();
      return;
    }
    const command = typeof m === 'string' ? options.commands?.[m] : undefined;
    if (command === undefined) return;
    Promise.resolve()
      .then(command)
      .then(
        (result) => (result === undefined ? undefined : send(result)),
        (err: unknown) => send({ error: (err as Error).message }),
      );
  });
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // The parent died or let go of the channel: nobody will say 'stop'.
  process.once('disconnect', stop);
  await send(ready);
}

/** Options of {@link forkChild}. */
export interface ForkChildOptions {
  /** Arguments after the script. @defaultValue [] */
  readonly args?: readonly string[];
  /** The child's environment. @defaultValue process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Node flags of the child. @defaultValue ['--import', 'tsx'] (run TypeScript scripts) */
  readonly execArgv?: readonly string[];
}

/** The parent's handle on a child started by {@link forkChild}. */
export interface ForkedChild<Ready extends object> {
  readonly child: ChildProcess;
  /** The child's first message (sent once its server listens). */
  readonly ready: Ready;
  /** Whether the process is still running. */
  running(): boolean;
  /** Sends `command` without waiting for an answer (for commands the child does not answer). */
  send(command: string): void;
  /** Sends `command` and resolves with the first message that carries `key`. */
  request<T extends object>(command: string, key: keyof T & string): Promise<T>;
  /**
   * Graceful: 'stop' (the child closes its server and exits), then waits for the exit — at most `graceMs`
   * when given, after which the child is killed (SIGKILL).
   */
  stop(graceMs?: number): Promise<void>;
  /** kill -9, and waits for the exit. */
  kill(): Promise<void>;
}

/**
 * Forks `script` (stdout and stderr inherited, an IPC channel) and waits for its first message. Rejects
 * with the child's error (message and `code`) when it could not start, or when it exits before saying.
 */
export async function forkChild<Ready extends object>(
  script: string,
  options: ForkChildOptions = {},
): Promise<ForkedChild<Ready>> {
  const child = fork(script, [...(options.args ?? [])], {
    execArgv: [...(options.execArgv ?? ['--import', 'tsx'])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    ...(options.env === undefined ? {} : { env: options.env }),
  });
  const exited = once(child, 'exit');
  const running = () => child.exitCode === null && child.signalCode === null;
  type First = Partial<Ready> & { error?: string; code?: string };
  const first: First = await Promise.race([
    once(child, 'message').then(([m]) => m as First),
    exited.then(
      ([code]) => ({ error: `${script} exited with ${String(code)} before it was ready` }) as First,
    ),
  ]);
  if (typeof first.error === 'string') {
    child.kill('SIGKILL');
    throw Object.assign(new Error(first.error), { code: first.code });
  }
  const done = async () => {
    if (running()) await exited;
  };
  return {
    child,
    ready: first as Ready,
    running,
    send(command: string) {
      child.send(command);
    },
    request<T extends object>(command: string, key: keyof T & string) {
      const reply = new Promise<T>((resolve) => {
        const onMessage = (m: unknown) => {
          if (typeof m !== 'object' || m === null || !(key in m)) return;
          child.off('message', onMessage);
          resolve(m as T);
        };
        child.on('message', onMessage);
      });
      child.send(command);
      return reply;
    },
    async stop(graceMs?: number) {
      if (running() && child.connected) child.send('stop');
      if (graceMs === undefined) return done();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done(), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
      if (running()) {
        child.kill('SIGKILL');
        await done();
      }
    },
    async kill() {
      child.kill('SIGKILL');
      await done();
    },
  };
}

/**
 * For a child that speaks no IPC but prints a line when ready (e.g. `READY http://…`): resolves with the
 * first capture group of `pattern` in its standard output, or rejects when the child exits first (with
 * `describeExit()`'s text, e.g. what it wrote to stderr).
 */
export function readyLine(proc: ChildProcess, pattern: RegExp, describeExit = () => ''): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = '';
    // Both listeners go once settled: a chatty child's later output is neither kept nor searched again.
    const onData = (d: Buffer) => {
      out += d;
      const m = pattern.exec(out);
      if (!m?.[1]) return;
      proc.stdout?.off('data', onData);
      proc.off('exit', onExit);
      resolve(m[1]);
    };
    const onExit = (code: number | null) => {
      proc.stdout?.off('data', onData);
      reject(new Error(`child exited (${code}) before it was ready ${describeExit()}`));
    };
    proc.stdout?.on('data', onData);
    proc.once('exit', onExit);
  });
}
