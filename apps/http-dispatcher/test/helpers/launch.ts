import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface Launched {
  p: ChildProcessWithoutNullStreams;
  exited: Promise<number | null>;
  out(): string;
  err(): string;
  /** Waits for the "listening" log line; resolves with the URL it names. */
  listening(timeoutMs?: number): Promise<string>;
}

/** Runs the http-dispatcher binary from source (tsx) with extra env and flags. */
export function launch(args: string[], env: Record<string, string> = {}): Launched {
  const p = spawn(process.execPath, ['--import', 'tsx', main, ...args], { env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d));
  p.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  const listening = async (timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) return (JSON.parse(line) as { url: string }).url;
      if (p.exitCode !== null || Date.now() > deadline)
        throw new Error(`http-dispatcher did not start (exit ${p.exitCode}):\n${out}\n${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  return { p, exited, out: () => out, err: () => err, listening };
}
