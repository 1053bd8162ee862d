/** Proxy processes on the PostgreSQL store (see `fixtures/pg-proxy-process.ts`), killed after the test. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './start-proxy.js';

const child = fileURLToPath(new URL('../fixtures/pg-proxy-process.ts', import.meta.url));

export interface FleetInstance {
  proc: ChildProcess;
  url: string;
  exited: Promise<void>;
  /** SIGKILL, resolved once the process is gone. */
  kill: () => Promise<void>;
}

/** Starts one instance on `databaseUrl` with extra proxy options (plus `leaseMs`); resolves once it listens. */
export async function spawnInstance(databaseUrl: string, options: object = {}): Promise<FleetInstance> {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, databaseUrl, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'pipe'],
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
    proc.once('exit', (code) => reject(new Error(`instance exited (${code}): ${err}`)));
  });
  return { proc, url, exited, kill };
}

/** POSTs `body` through the instance at `base` to `dest`. */
export async function postVia(
  base: string,
  dest: string,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'x-dispatcher-origin-host': dest, ...headers },
    body,
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}
