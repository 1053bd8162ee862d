/** A proxy in a child process (one of `fixtures/*-process.ts`) that prints `READY <url>` once it listens. */
import { type ChildProcess, spawn } from 'node:child_process';
import { onCleanup } from './start-proxy.js';

export interface ProxyChild {
  proc: ChildProcess;
  url: string;
  exited: Promise<void>;
  /** SIGKILL, resolved once the process is gone. */
  kill: () => Promise<void>;
}

/** Runs `script` with `args` under tsx; resolves once it listens, killed after the test if still alive. */
export async function spawnProxyChild(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProxyChild> {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  };
  onCleanup(kill);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d;
      const m = /READY (\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    proc.once('exit', (code) => reject(new Error(`proxy process exited (${code}): ${err}`)));
  });
  return { proc, url, exited, kill };
}
