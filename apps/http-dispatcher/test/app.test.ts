import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
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

const MAX = Number.MAX_SAFE_INTEGER;

const config = (env: Record<string, string>, argv: string[] = []) => {
  const parsed = parseConfig(env, argv);
  if (parsed.help) throw new Error('help');
  return parsed.config.proxy;
};

describe('config', () => {
  it("keeps the original's variable names and defaults", () => {
    expect(config({})).toEqual({
      dataDir: 'transaction.log',
      deadLetterDir: 'deadletter.log',
      port: 80,
      destinations: [],
    });
    const c = config({
      LISTEN: '127.0.0.1:9000',
      TRANSACTION_LOG: '/var/lib/d/log',
      DEAD_LETTER: '/var/lib/d/dead',
      WORKER: '20',
      RETRYLIMIT: '3',
      DEFAULT_TIMEOUT: '2500',
      EVENT_SOURCING: 'true',
      RETRY_BACKOFF: 'legacy',
      ALLOWED_DESTINATIONS: 'api.example.com, *.internal.example, 10.0.0.0/8',
    });
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 9000,
      dataDir: '/var/lib/d/log',
      deadLetterDir: '/var/lib/d/dead',
      workers: 20,
      retryLimit: 3,
      defaultTimeoutMs: 2500,
      eventSourcing: true,
      retryBackoff: 'legacy',
      allowedDestinations: ['api.example.com', '*.internal.example', '10.0.0.0/8'],
    });
    expect(config({ RETRY_LIMIT: '4' }).retryLimit).toBe(4);
    expect(config({ LISTEN: '[::1]:81' })).toMatchObject({ host: '::1', port: 81 });
  });

  it('passes the memory caps on', () => {
    expect(
      config({ MAX_IDEMPOTENCY_KEYS: '3', MAX_DEAD_LETTER_IDS: '4', MAX_DELIVERED_IDS: '5' }, [
        '--max-destinations',
        '6',
      ]),
    ).toMatchObject({ maxIdempotencyKeys: 3, maxDeadLetterIds: 4, maxDeliveredIds: 5, maxDestinations: 6 });
    expect(() => config({ MAX_DESTINATIONS: '0' })).toThrow(
      /^MAX_DESTINATIONS: must be a whole number from 1 to /,
    );
  });

  it('sets the delivery threads, 0 keeping deliveries on the main thread', () => {
    expect(config({}).deliveryThreads).toBeUndefined();
    expect(config({ DELIVERY_THREADS: '0' }).deliveryThreads).toBe(0);
    expect(config({ DELIVERY_THREADS: '0' }, ['--delivery-threads', '2']).deliveryThreads).toBe(2);
    expect(() => config({ DELIVERY_THREADS: '65' })).toThrow(
      /^DELIVERY_THREADS: must be a whole number from 0 to 64/,
    );
  });

  it('lets flags win over env', () => {
    expect(config({ WORKER: '5' }, ['--worker', '7', '--event-sourcing=false'])).toMatchObject({
      workers: 7,
      eventSourcing: false,
    });
  });

  it('names the setting in every error', () => {
    expect(() => config({ WORKER: 'many' })).toThrow(/^WORKER: must be a whole number/);
    expect(() => config({ LISTEN: 'nonsense' })).toThrow(/^LISTEN: expected host:port/);
    expect(() => config({ EVENT_SOURCING: 'maybe' })).toThrow(/^EVENT_SOURCING: must be true or false/);
    expect(() => config({ RETRYLIMIT: '3', RETRY_LIMIT: '4' })).toThrow(
      /^RETRY_LIMIT: conflicts with RETRYLIMIT/,
    );
    expect(() => config({ ALLOWED_DESTINATIONS: 'a b' })).toThrow(/^ALLOWED_DESTINATIONS: /);
    expect(() => config({ RETRY_BACKOFF: 'random' })).toThrow(/^RETRY_BACKOFF: /);
    expect(() => config({}, ['--bogus'])).toThrow('unknown option --bogus');
    expect(() => config({}, ['--worker'])).toThrow('--worker: missing value');
    // Checks the proxy itself makes (across settings, or against its limits) are named the same way.
    expect(() => config({ RETRY_BASE_MS: '5000', RETRY_MAX_MS: '1000' })).toThrow(
      /^RETRY_MAX_MS: must be >= RETRY_BASE_MS$/,
    );
    expect(() => config({ MAX_BODY_BYTES: String(64 * 1024 * 1024) })).toThrow(
      /^MAX_BODY_BYTES: must be a whole number from 1 to 15728640 \(a request is one log record/,
    );
    expect(() => config({ HEADERS_TIMEOUT_MS: '5000', REQUEST_TIMEOUT_MS: '1000' })).toThrow(
      /^REQUEST_TIMEOUT_MS: must be >= HEADERS_TIMEOUT_MS$/,
    );
    expect(() => config({ SIGNING_SECRET: 'whsec_not base64!' })).toThrow(/^SIGNING_SECRET: .*base64/);
  });

  it('says the real range of every whole-number setting, whatever is wrong with the value', () => {
    const ranges: Array<[string, number, number]> = [
      ['WORKER', 1, MAX],
      ['DELIVERY_THREADS', 0, 64],
      ['RETRYLIMIT', 0, MAX],
      ['RETRY_LIMIT', 0, MAX],
      ['DEFAULT_TIMEOUT', 1, 2 ** 31 - 1],
      ['RETRY_BASE_MS', 1, MAX],
      ['RETRY_MAX_MS', 1, MAX],
      ['DESTINATION_CONCURRENCY', 1, MAX],
      ['MAX_BODY_BYTES', 1, 15 * 1024 * 1024],
      ['MAX_BACKLOG', 1, MAX],
      ['MIN_FREE_DISK_BYTES', 0, MAX],
      ['MAX_RSS_BYTES', 1, MAX],
      ['IDEMPOTENCY_WINDOW_MS', 1, MAX],
      ['SHUTDOWN_TIMEOUT_MS', 0, 2 ** 31 - 1],
      ['HEADERS_TIMEOUT_MS', 1, 2 ** 31 - 1],
      ['REQUEST_TIMEOUT_MS', 1, 2 ** 31 - 1],
    ];
    for (const [name, min, max] of ranges) {
      for (const value of ['1000000000000000000', String(max + 1), '1.5', '-1', 'many', '1e3']) {
        expect(() => config({ [name]: value }), `${name}=${value}`).toThrow(
          new RegExp(`^${name}: must be a whole number from ${min} to ${max}\\b.*, got "${value}"$`),
        );
      }
      if (min === 0) expect(() => config({ [name]: '0' })).not.toThrow();
    }
    // The example: 10^18 was refused as "must be at least 0".
    expect(() => config({ MIN_FREE_DISK_BYTES: '1000000000000000000' })).toThrow(
      'MIN_FREE_DISK_BYTES: must be a whole number from 0 to 9007199254740991, got "1000000000000000000"',
    );
    expect(config({ MIN_FREE_DISK_BYTES: String(MAX) }).minFreeDiskBytes).toBe(MAX);
    expect(() => config({ LISTEN: ':70000' })).toThrow('LISTEN: port must be from 0 to 65535, got ":70000"');
    const dir = tmp();
    const file = join(dir, 'rules.json');
    writeFileSync(
      file,
      JSON.stringify({ destinations: [{ match: 'x', cooldownMs: 400_000, timeoutMs: 1.5 }] }),
    );
    expect(() => config({ CONFIG_FILE: file })).toThrow(
      /destinations\.0\.timeoutMs: must be a whole number from 1 to 2147483647 .*\n.*destinations\.0\.cooldownMs: must be a whole number from 1 to 300000/,
    );
  });

  it('reads the admin host names from ADMIN_HOSTS and checks them', () => {
    expect(config({ ADMIN_HOSTS: ' dispatcher.internal, ops.example:8443 ,' }).adminHosts).toEqual([
      'dispatcher.internal',
      'ops.example:8443',
    ]);
    expect(() => config({ ADMIN_HOSTS: 'ok.example,https://ops.example' })).toThrow(
      'ADMIN_HOSTS: expected name, name:port, [v6] or [v6]:port, got "https://ops.example"',
    );
  });

  it('sets the slow-client timeouts from HEADERS_TIMEOUT_MS and REQUEST_TIMEOUT_MS (or their flags)', () => {
    expect(config({ HEADERS_TIMEOUT_MS: '2000' }, ['--request-timeout-ms', '30000'])).toMatchObject({
      headersTimeoutMs: 2000,
      requestTimeoutMs: 30000,
    });
  });

  it('reads per-destination rules from CONFIG_FILE and validates them', () => {
    const dir = tmp();
    const good = join(dir, 'good.json');
    writeFileSync(
      good,
      JSON.stringify({ destinations: [{ match: 'api.example.com', concurrency: 2, ratePerSec: 50 }] }),
    );
    expect(config({ CONFIG_FILE: good }).destinations).toEqual([
      { match: 'api.example.com', concurrency: 2, ratePerSec: 50 },
    ]);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ destinations: [{ match: 'x', concurrency: -1 }] }));
    expect(() => config({ CONFIG_FILE: bad })).toThrow(
      /^CONFIG_FILE .*bad\.json: destinations\.0\.concurrency/,
    );
    expect(() => config({ CONFIG_FILE: join(dir, 'missing.json') })).toThrow(/^CONFIG_FILE: cannot read/);
  });
});

describe('the http-dispatcher binary', () => {
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const launch = (args: string[], env: Record<string, string> = {}) => {
    const p = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    return { p, exited, out: () => out, err: () => err };
  };

  it('prints --help and exits 2 naming a bad setting', async () => {
    const help = launch(['--help']);
    expect(await help.exited).toBe(0);
    expect(help.out()).toContain('Usage: http-dispatcher');
    expect(help.out()).toContain('[RETRYLIMIT]');
    expect(help.out()).toContain('[ADMIN_HOSTS]');
    expect(help.out()).toMatch(/--headers-timeout-ms +\[HEADERS_TIMEOUT_MS\] .*\(default 10000\)/);
    expect(help.out()).toMatch(/--request-timeout-ms +\[REQUEST_TIMEOUT_MS\] .*\(default 60000\)/);
    const bad = launch([], { WORKER: '0' });
    expect(await bad.exited).toBe(2);
    expect(bad.err()).toContain('WORKER: must be a whole number from 1 to 9007199254740991, got "0"');
  });

  it('accepts, delivers, and shuts down cleanly on SIGTERM', async () => {
    const received: string[] = [];
    const sink = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        received.push(`${req.method} ${req.url} ${body}`);
        res.end();
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const sinkPort = (sink.address() as AddressInfo).port;
    const dir = tmp();
    const app = launch([], {
      LISTEN: '127.0.0.1:0',
      TRANSACTION_LOG: join(dir, 'log'),
      DEAD_LETTER: join(dir, 'dead'),
      ALLOWED_DESTINATIONS: '127.0.0.1',
    });
    try {
      let url = '';
      // Up to 30 s: a loaded CI machine can take several seconds to start a node process.
      for (let i = 0; i < 1200 && !url; i++) {
        const line = app
          .out()
          .split('\n')
          .find((l) => l.includes('"listening"'));
        if (line) url = (JSON.parse(line) as { url: string }).url;
        else await new Promise((r) => setTimeout(r, 25));
      }
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${url}/hello?a=1`, {
        method: 'POST',
        headers: { 'x-dispatcher-origin-host': `127.0.0.1:${sinkPort}` },
        body: 'world',
      });
      expect(res.status).toBe(202);
      for (let i = 0; i < 1200 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(received).toEqual(['POST /hello?a=1 world']);
      app.p.kill('SIGTERM');
      expect(await app.exited).toBe(0);
      expect(app.out()).toContain('"closed"');
    } finally {
      app.p.kill('SIGKILL');
      sink.close();
    }
  });

  it('shuts down cleanly on SIGINT (Ctrl-C) too', async () => {
    const dir = tmp();
    const app = launch([], {
      LISTEN: '127.0.0.1:0',
      TRANSACTION_LOG: join(dir, 'log'),
      DEAD_LETTER: join(dir, 'dead'),
    });
    try {
      for (let i = 0; i < 1200 && !app.out().includes('"listening"'); i++)
        await new Promise((r) => setTimeout(r, 25));
      expect(app.out()).toContain('"listening"');
      app.p.kill('SIGINT');
      expect(await app.exited).toBe(0);
      expect(app.out()).toContain('"closed"');
    } finally {
      app.p.kill('SIGKILL');
    }
  });
});
