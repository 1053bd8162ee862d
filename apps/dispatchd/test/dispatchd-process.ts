/** Runs the dispatchd binary (through tsx) for the binary tests, and reads what it logs. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

// Each run gets its own persist directory (the default, /data/dispatchd/, is shared and locked), unless the
// test names one in a config file.
export const launch = (args: string[], env: Record<string, string> = {}) => {
  // A free admin port unless the test names one (8080 may be taken on a shared machine).
  const dir = args.includes('-config-file') ? undefined : mkdtempSync(join(tmpdir(), 'dsp-dd-'));
  const own = dir ? { DISPATCHD_PERSIST_DIR: dir, DISPATCHD_ADMIN_PORT: '0' } : {};
  const p = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
    env: { ...process.env, ...own, ...env },
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d));
  p.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) =>
    p.on('exit', (code) => {
      // The directory made for this run goes with it (a test that keeps data names its own).
      if (dir) rmSync(dir, { recursive: true, force: true });
      resolve(code);
    }),
  );
  return { p, exited, out: () => out, err: () => err };
};

export type App = ReturnType<typeof launch>;

/** A config file in a fresh directory that is also the persist directory (free ports), plus `extra`. */
export function configFile(extra: Record<string, unknown>): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'dsp-dispatchd-'));
  const file = join(dir, 'dispatchd.json');
  writeFileSync(file, JSON.stringify({ 'amqp-port': 0, 'admin-port': 0, 'persist-dir': dir, ...extra }));
  return { dir, file };
}

export async function listeningPort(app: App): Promise<number> {
  for (let i = 0; i < 400; i++) {
    const line = app
      .out()
      .split('\n')
      .find((l) => l.includes('"msg":"listening"'));
    if (line) return (JSON.parse(line) as { port: number }).port;
    if (app.p.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`dispatchd did not start:\n${app.out()}\n${app.err()}`);
}

/** The management listener's port, from its log line. */
export async function adminPort(app: App): Promise<number> {
  for (let i = 0; i < 400; i++) {
    const line = app
      .out()
      .split('\n')
      .find((l) => l.includes('"msg":"management listening"'));
    if (line) return (JSON.parse(line) as { port: number }).port;
    if (app.p.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`dispatchd's management listener did not start:\n${app.out()}\n${app.err()}`);
}
