/** A proxy in a child process (one of `fixtures/*-process.ts`) that prints `READY <url>` once it listens. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readyLine } from '@dispatcher/tooling/child-harness';
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
  const url = await readyLine(proc, /READY (\S+)/, () => err);
  return { proc, url, exited, kill };
}
