import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

/** The medispatcher binary (from source, through tsx) with its stdout and stderr collected. */
export type MedispatcherProcess = ChildProcess & { output: () => string };

export function runMedispatcher(args: string[]): MedispatcherProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return Object.assign(child, { output: () => out });
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Polls `check` until it returns a truthy value; fails after the deadline. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 30_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The first JSON log line of the process whose `msg` is `message`. */
export function logLine(child: MedispatcherProcess, message: string): Record<string, unknown> | undefined {
  for (const line of child.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    const record = JSON.parse(line) as Record<string, unknown>;
    if (record.msg === message) return record;
  }
  return undefined;
}

/**
 * One call of the original's RPC over a fresh raw socket, framed byte for byte without the gateway's code:
 * request = 8-byte ASCII length (NUL-padded) + JSON; response = 8-byte length + 8-byte status + body.
 */
export async function rawRpcCall(
  port: number,
  cmd: string,
  args: unknown,
  timeoutMs = 15_000,
): Promise<{ status: string; body: unknown }> {
  const socket = connect(port, '127.0.0.1');
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('RPC answer timed out')), timeoutMs);
      let buf = Buffer.alloc(0);
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 16) return;
        const length = Number(buf.subarray(0, 8).toString('latin1').replace(/\0+$/, ''));
        if (buf.length < 16 + length) return;
        clearTimeout(timer);
        resolve({
          status: buf.subarray(8, 16).toString('latin1').replace(/\0+$/, ''),
          body: JSON.parse(buf.subarray(16, 16 + length).toString('utf8')),
        });
      });
      const body = Buffer.from(JSON.stringify({ cmd, args }));
      const head = Buffer.alloc(8, 0);
      head.write(String(body.length), 'latin1');
      socket.write(Buffer.concat([head, body]));
    });
  } finally {
    socket.end(Buffer.from('CLOSE'));
    socket.destroy();
  }
}
