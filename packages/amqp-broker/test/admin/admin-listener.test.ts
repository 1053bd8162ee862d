/**
 * The management listener over real sockets: HTTP and HTTPS (a certificate made at test time with the
 * openssl CLI), the browser protections (Host 421, cross-origin writes 403, security headers), the web
 * page's static files with SPA fallback, and the separate Prometheus listener.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { selfSignedCertificate } from '@dispatcher/tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdminHarness, GUEST, startAdminHarness } from './admin-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'dsp-admin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('HTTP listener: security rules and the web page', () => {
  let h: AdminHarness;
  const ui = join(dir, 'ui');
  beforeAll(async () => {
    mkdirSync(join(ui, 'assets'), { recursive: true });
    writeFileSync(
      join(ui, 'index.html'),
      '<!doctype html><title>dispatchd</title><script type="module" src="/assets/app-1a2b.js"></script>',
    );
    writeFileSync(join(ui, 'assets', 'app-1a2b.js'), 'console.log("app")');
    writeFileSync(join(ui, 'assets', 'app-1a2b.css'), 'body{}');
    writeFileSync(join(ui, 'favicon.svg'), '<svg/>');
    writeFileSync(join(dir, 'secret.txt'), 'outside the UI directory');
    h = await startAdminHarness({}, { uiDir: ui, servedHosts: ['broker.example.com'], prometheusPort: 0 });
  });
  afterAll(async () => {
    await h.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${h.baseUrl}${path}`, { headers: { authorization: GUEST, ...headers } });
  /** fetch() never sends a Host of our choosing (a forbidden header): node:http does. */
  const withHost = (host: string, auth = true) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: h.admin.port,
          path: '/api/overview',
          headers: { host, ...(auth ? { authorization: GUEST } : {}) },
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });

  it('answers on loopback names and configured ones; another Host gets 421 before any work', async () => {
    expect((await get('/api/overview')).status).toBe(200);
    expect((await withHost('localhost')).status).toBe(200);
    expect((await withHost(`[::1]:${h.admin.port}`)).status).toBe(200);
    expect((await withHost('broker.example.com:15672')).status).toBe(200);
    const rebound = await withHost('attacker.example');
    expect(rebound.status).toBe(421);
    expect((JSON.parse(rebound.body) as { error: string }).error).toBe('misdirected_request');
    // Even without credentials: the Host check comes first.
    expect((await withHost('attacker.example', false)).status).toBe(421);
    expect((await withHost('localhost', false)).status).toBe(401);
  });

  it('refuses state-changing requests from another origin (403), allows same-origin and tools', async () => {
    const put = (headers: Record<string, string>) =>
      fetch(`${h.baseUrl}/api/queues/%2F/origin-q`, {
        method: 'PUT',
        headers: { authorization: GUEST, 'content-type': 'application/json', ...headers },
        body: '{}',
      });
    const cross = await put({ origin: 'http://attacker.example' });
    expect(cross.status).toBe(403);
    expect(h.broker.vhost('/')?.getQueueIfExists('origin-q')).toBeUndefined();
    expect((await put({ origin: 'null' })).status).toBe(403);
    expect((await put({ origin: `http://localhost:${h.admin.port}` })).status).toBe(201);
    expect((await put({})).status).toBe(204);
    // A cross-origin read is answered (the browser keeps it from the page: no CORS headers).
    const read = await get('/api/queues', { origin: 'http://attacker.example' });
    expect(read.status).toBe(200);
    expect(read.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('puts the security headers on every answer', async () => {
    for (const res of [
      await get('/api/overview'),
      await get('/'),
      await fetch(`${h.baseUrl}/api/overview`),
    ]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
    }
  });

  it('serves the built page with content types, cache headers and SPA fallback; nothing outside it', async () => {
    const index = await fetch(`${h.baseUrl}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(await index.text()).toContain('<title>dispatchd</title>');
    const js = await fetch(`${h.baseUrl}/assets/app-1a2b.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await fetch(`${h.baseUrl}/assets/app-1a2b.css`)).headers.get('content-type')).toBe(
      'text/css; charset=utf-8',
    );
    expect((await fetch(`${h.baseUrl}/favicon.svg`)).headers.get('content-type')).toBe('image/svg+xml');
    const deep = await fetch(`${h.baseUrl}/queues/%2F/q1`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain('<title>dispatchd</title>');
    expect((await fetch(`${h.baseUrl}/assets/missing.js`)).status).toBe(404);
    const traversal = await fetch(`${h.baseUrl}/..%2Fsecret.txt`);
    expect(await traversal.text()).not.toContain('outside the UI directory');
    const unknownApi = await get('/api/nothing-here');
    expect(unknownApi.status).toBe(404);
    expect(await unknownApi.json()).toEqual({ error: 'Object Not Found', reason: 'Not Found' });
  });

  it('serves metrics on the admin listener and on the separate Prometheus port, in the text format', async () => {
    const admin = await fetch(`${h.baseUrl}/metrics`);
    expect(admin.status).toBe(200);
    expect(await admin.text()).toContain('rabbitmq_identity_info{');
    const port = h.admin.prometheusPort;
    expect(port).toBeGreaterThan(0);
    const prom = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(prom.status).toBe(200);
    expect(prom.headers.get('content-type')).toContain('text/plain');
    expect(await prom.text()).toContain('# TYPE rabbitmq_global_messages_received_total counter');
    // Only metrics there.
    expect(
      (await fetch(`http://127.0.0.1:${port}/api/overview`, { headers: { authorization: GUEST } })).status,
    ).toBe(404);
    const overview = (await (await get('/api/overview')).json()) as {
      listeners: { protocol: string; port: number }[];
    };
    expect(overview.listeners.find((l) => l.protocol === 'http/prometheus')?.port).toBe(port);
  });
});

describe('HTTPS listener', () => {
  let h: AdminHarness;
  let cert: string;
  beforeAll(async () => {
    const credentials = await selfSignedCertificate();
    cert = credentials.cert;
    h = await startAdminHarness({}, { tls: { cert, key: credentials.key } });
  });
  afterAll(async () => {
    await h.close();
  });

  const get = (path: string, auth = true) =>
    new Promise<{ status: number; body: string; protocol: string | undefined }>((resolve, reject) => {
      const req = httpsRequest(
        `https://127.0.0.1:${h.admin.port}${path}`,
        { ca: cert, headers: auth ? { authorization: GUEST } : {} },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol }));
        },
      );
      let protocol: string | undefined;
      req.on('socket', (socket) =>
        socket.on('secureConnect', () => {
          protocol = (socket as TLSSocket).getProtocol() ?? undefined;
        }),
      );
      req.on('error', reject);
      req.end();
    });

  it('serves the API over TLS with the configured certificate', async () => {
    const res = await get('/api/overview');
    expect(res.status).toBe(200);
    expect(res.protocol).toMatch(/^TLSv1\.[23]$/);
    const overview = JSON.parse(res.body) as { listeners: { protocol: string }[] };
    expect(overview.listeners.map((l) => l.protocol)).toContain('https');
    expect((await get('/api/overview', false)).status).toBe(401);
  });

  it('refuses plain HTTP on the TLS port', async () => {
    await expect(fetch(`http://127.0.0.1:${h.admin.port}/api/overview`)).rejects.toThrow();
  });
});
