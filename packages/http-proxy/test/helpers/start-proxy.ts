import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach } from 'vitest';
import { HttpProxy } from '../../src/http-proxy.js';
import type { HttpProxyOptions } from '../../src/proxy-options.js';
import { createTestDatabase } from './pg-database.js';
import { Sink } from './sink.js';

/**
 * `DISPATCHER_PROXY_STORE=postgres` runs the behaviour suites on the PostgreSQL store: one private database
 * per test file, one schema per data directory (so a restart on the same directory finds its state).
 */
export const STORE = process.env.DISPATCHER_PROXY_STORE === 'postgres' ? 'postgres' : 'embedded';
/** `DISPATCHER_PROXY_DELIVERY_THREADS=n` runs the behaviour suites with deliveries on n worker threads. */
const DELIVERY_THREADS =
  process.env.DISPATCHER_PROXY_DELIVERY_THREADS === undefined
    ? undefined
    : Number(process.env.DISPATCHER_PROXY_DELIVERY_THREADS);
let database: ReturnType<typeof createTestDatabase> | undefined;
afterAll(async () => {
  if (database) await (await database).drop();
});

async function postgresFor(dataDir: string): Promise<{ connectionString: string; pollMs: number }> {
  database ??= createTestDatabase();
  const { url } = await database;
  const schema = `s_${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}`;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  } finally {
    await c.end();
  }
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return { connectionString: u.href, pollMs: 50 };
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dsp-proxy-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A proxy on 127.0.0.1:0 that may call local destinations, with fast retries; closed after the test. */
export async function startProxy(options: Partial<HttpProxyOptions> = {}): Promise<HttpProxy> {
  const dataDir = options.dataDir ?? tempDir();
  const proxy = new HttpProxy({
    dataDir,
    ...(STORE === 'postgres' ? { postgres: await postgresFor(dataDir) } : {}),
    host: '127.0.0.1',
    port: 0,
    allowedDestinations: ['127.0.0.1'],
    retryBaseMs: 20,
    retryMaxMs: 200,
    shutdownTimeoutMs: 500,
    ...(DELIVERY_THREADS === undefined ? {} : { deliveryThreads: DELIVERY_THREADS }),
    ...options,
  });
  await proxy.start();
  cleanups.push(() => proxy.close());
  return proxy;
}

/**
 * A proxy on the PostgreSQL store at `connectionString` (no data directory), on 127.0.0.1:0, that may call
 * local destinations, with fast retries and a short shutdown; closed after the test.
 */
export async function startPgProxy(
  connectionString: string,
  options: Partial<HttpProxyOptions> = {},
  postgres: Partial<NonNullable<HttpProxyOptions['postgres']>> = {},
): Promise<HttpProxy> {
  const proxy = new HttpProxy({
    dataDir: '/nonexistent-unused',
    host: '127.0.0.1',
    port: 0,
    allowedDestinations: ['127.0.0.1'],
    retryBaseMs: 20,
    retryMaxMs: 200,
    shutdownTimeoutMs: 200,
    postgres: { connectionString, pollMs: 50, ...postgres },
    ...options,
  });
  await proxy.start();
  cleanups.push(() => proxy.close());
  return proxy;
}

/** Registers something to close after the test. */
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

export async function send(
  proxy: HttpProxy,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await fetch(`${proxy.url}${path}`, {
    method: init.method ?? 'POST',
    headers: init.headers ?? {},
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true (or throws after `timeoutMs`). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** A sink (local destination) that is closed after the test. */
export async function sink(): Promise<Sink> {
  const s = await new Sink().start();
  onCleanup(() => s.close());
  return s;
}

/** Request options that send to `dest` through the proxy, with extra request headers. */
export const to = (dest: Sink, extra: Record<string, string> = {}) => ({
  headers: { 'x-dispatcher-origin-host': dest.url, ...extra },
});

/** Dead letters stored, with either store. */
export async function deadLetterCount(proxy: HttpProxy): Promise<number> {
  return proxy.pg ? proxy.pg.deadLetterCount() : proxy.store.deadLetterCount;
}

/** Requests stored and not yet finished, with either store. */
export async function storedCount(proxy: HttpProxy): Promise<number> {
  return proxy.pg ? proxy.pg.backlog() : proxy.store.main.liveCount;
}
