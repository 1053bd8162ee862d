/** Admin API calls with the headers a browser would send, and a proxy that holds one dead letter. */
import { request } from 'node:http';
import { expect } from 'vitest';
import type { HttpProxy } from '../../src/http-proxy.js';
import { eventually, sink, startProxy, to } from './start-proxy.js';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

/** On every admin answer, refusals included (spelled out here, not imported, so a change shows). */
export const ADMIN_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};

/** node:http, not fetch: the test sets `Host` itself, as a browser does for a DNS-rebinding page. */
export function call(
  proxy: HttpProxy,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${proxy.url}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? JSON.parse(text) : {} }),
      );
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A proxy with one dead letter (its destination answers 404). */
export async function withDeadLetter(options: Parameters<typeof startProxy>[0] = {}): Promise<HttpProxy> {
  const dest = await sink();
  dest.behave = () => ({ kind: 'status', status: 404 });
  const proxy = await startProxy(options);
  const res = await call(proxy, 'POST', '/x', to(dest).headers, 'hi');
  expect(res.status).toBe(202);
  await eventually(() => proxy.store.deadLetterCount === 1);
  return proxy;
}
