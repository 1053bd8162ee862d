/** STORE / DATABASE_URL select the PostgreSQL store; `http-dispatcher migrate`; a newer schema stops start-up. */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.js';
import { launch } from './helpers/launch.js';

const ADMIN_URL = process.env.DISPATCHER_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const name = `dispatcher_test_${randomBytes(6).toString('hex')}`;
const dbUrl = (() => {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.href;
})();

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

beforeAll(() => admin(`CREATE DATABASE ${name}`));
afterAll(() => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));

const proxyOf = (env: Record<string, string>, argv: string[] = []) => {
  const parsed = parseConfig(env, argv);
  if (parsed.help) throw new Error('help');
  return parsed;
};

describe('store selection', () => {
  it('uses the embedded log unless STORE or DATABASE_URL names PostgreSQL', () => {
    expect(proxyOf({}).config.proxy.postgres).toBeUndefined();
    expect(proxyOf({ DATABASE_URL: dbUrl }).config.proxy.postgres?.connectionString).toBe(dbUrl);
    expect(proxyOf({ STORE: dbUrl }).config.proxy.postgres?.connectionString).toBe(dbUrl);
    expect(proxyOf({ STORE: 'postgres', DATABASE_URL: dbUrl }).config.proxy.postgres?.connectionString).toBe(
      dbUrl,
    );
    expect(proxyOf({ STORE: 'embedded', DATABASE_URL: dbUrl }).config.proxy.postgres).toBeUndefined();
    expect(
      proxyOf({ DATABASE_URL: dbUrl, PG_POOL_MAX: '4', PG_LEASE_MS: '5000', PG_MIGRATE: 'false' }).config
        .proxy.postgres,
    ).toEqual({ connectionString: dbUrl, poolMax: 4, leaseMs: 5000, migrate: false });
    expect(() => parseConfig({ STORE: 'mysql://x' }, [])).toThrow(/STORE/);
    expect(() => parseConfig({ STORE: 'postgres' }, [])).toThrow(/DATABASE_URL/);
    expect(() => parseConfig({ DATABASE_URL: dbUrl, PG_POOL_MAX: '0' }, [])).toThrow(/PG_POOL_MAX/);
    expect(() => parseConfig({}, ['migrate'])).toThrow(/migrate/);
    expect(proxyOf({ DATABASE_URL: dbUrl }, ['migrate']).command).toBe('migrate');
  });
});

describe('http-dispatcher on PostgreSQL', () => {
  it('migrates with `migrate`, starts without migrating, delivers, and refuses a newer schema', async () => {
    const m = launch(['migrate'], { DATABASE_URL: dbUrl });
    expect(await m.exited).toBe(0);
    expect(m.out()).toContain('schema migrated');

    const received: string[] = [];
    const dest = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received.push(String(req.headers['x-dispatcher-message-id']));
        res.end();
      });
    });
    await new Promise<void>((r) => dest.listen(0, '127.0.0.1', r));
    const destUrl = `http://127.0.0.1:${(dest.address() as AddressInfo).port}`;
    const app = launch([], {
      DATABASE_URL: dbUrl,
      PG_MIGRATE: 'false',
      LISTEN: '127.0.0.1:0',
      ALLOWED_DESTINATIONS: '127.0.0.1',
    });
    try {
      const url = await app.listening();
      const res = await fetch(`${url}/x`, {
        method: 'POST',
        headers: { 'x-dispatcher-origin-host': destUrl },
      });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      const deadline = Date.now() + 20_000;
      while (!received.includes(id)) {
        if (Date.now() > deadline) throw new Error('not delivered');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      app.p.kill('SIGTERM');
      await app.exited;
      dest.close();
    }

    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    await c.query("INSERT INTO dsp_schema_version (version, name) VALUES (999, 'future')");
    await c.end();
    const refused = launch([], { DATABASE_URL: dbUrl, LISTEN: '127.0.0.1:0' });
    expect(await refused.exited).toBe(1);
    expect(refused.err()).toContain('DSP_PROXY_SCHEMA_TOO_NEW');
  });
});
