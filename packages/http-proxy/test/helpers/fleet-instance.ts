/** Proxy processes on the PostgreSQL store (see `fixtures/pg-proxy-process.ts`), killed after the test. */
import { fileURLToPath } from 'node:url';
import { type ProxyChild, spawnProxyChild } from './proxy-child.js';

const child = fileURLToPath(new URL('../fixtures/pg-proxy-process.ts', import.meta.url));

export type FleetInstance = ProxyChild;

/** Starts one instance on `databaseUrl` with extra proxy options (plus `leaseMs`); resolves once it listens. */
export function spawnInstance(databaseUrl: string, options: object = {}): Promise<FleetInstance> {
  return spawnProxyChild(child, [databaseUrl, JSON.stringify(options)]);
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
