import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { noopLogger } from '@dispatcher/core';
import { afterEach, describe, expect, it } from 'vitest';
import { startApp } from '../src/app.js';
import { parseConfig } from '../src/config.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'dsp-app-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('config', () => {
  it('reads env, lets flags win, and names the bad setting', () => {
    const parsed = parseConfig({ LISTEN: '127.0.0.1:9000' }, ['--transaction-log', '/var/x']);
    expect(parsed).toEqual({
      help: false,
      config: { listen: { host: '127.0.0.1', port: 9000 }, transactionLog: '/var/x' },
    });
    expect(parseConfig({}, ['--listen=:81'])).toMatchObject({
      config: { listen: { host: undefined, port: 81 } },
    });
    expect(parseConfig({}, ['--listen', '[::1]:82'])).toMatchObject({
      config: { listen: { host: '::1', port: 82 } },
    });
    expect(() => parseConfig({ LISTEN: 'nonsense' }, [])).toThrow(/^LISTEN: expected host:port/);
    expect(() => parseConfig({}, ['--bogus'])).toThrow('unknown option --bogus');
    expect(() => parseConfig({}, ['--listen'])).toThrow('--listen: missing value');
    expect(parseConfig({}, ['--help'])).toEqual({ help: true });
  });
});

describe('app', () => {
  it('serves health with the log stats over real HTTP and closes cleanly', async () => {
    const app = await startApp({ listen: { host: '127.0.0.1', port: 0 }, transactionLog: tmp() }, noopLogger);
    const res = await fetch(`${app.url}/_dispatcher/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; log: { segments: number } };
    expect(body.status).toBe('ok');
    expect(body.log.segments).toBe(0);
    expect((await fetch(`${app.url}/other`)).status).toBe(404);
    await app.close();
    await expect(fetch(`${app.url}/_dispatcher/health`)).rejects.toThrow();
  });

  it('refuses a second instance on the same log directory', async () => {
    const dir = tmp();
    const first = await startApp({ listen: { host: '127.0.0.1', port: 0 }, transactionLog: dir }, noopLogger);
    await expect(
      startApp({ listen: { host: '127.0.0.1', port: 0 }, transactionLog: dir }, noopLogger),
    ).rejects.toMatchObject({
      code: 'DSP_CORE_LOG_LOCKED',
    });
    await first.close();
  });

  it('runs as a binary: --help, and exits 2 naming a bad setting', async () => {
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const run = (args: string[], env: Record<string, string> = {}) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
          env: { ...process.env, ...env },
        });
        let out = '';
        let err = '';
        p.stdout.on('data', (d: Buffer) => (out += d));
        p.stderr.on('data', (d: Buffer) => (err += d));
        p.on('exit', (code) => resolve({ code, out, err }));
      });
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: http-dispatcher');
    const bad = await run([], { LISTEN: 'x' });
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('LISTEN: expected host:port');
  });
});
