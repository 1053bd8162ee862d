/**
 * The admin API against a web page, in real headless Chromium (Debian's, installed on first run): without
 * `adminToken` the admin API trusts loopback clients, and a page that a developer opens can reach loopback
 * ports. Chromium resolves `attacker.example` to 127.0.0.1 (as after DNS rebinding); the attacker page
 * writes what its JavaScript observed into the DOM, and screenshots of it are saved under
 * `test-artifacts/` (gitignored).
 */
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Browser, getFreePort, launchChromium, type Page } from '@dispatcher/tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpProxy } from '../src/http-proxy.js';
import { ADMIN_HEADERS, call, withDeadLetter } from './helpers/admin-call.js';
import { onCleanup, startProxy } from './helpers/start-proxy.js';

const ATTACKER = 'attacker.example';
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));

/** One fetch() the attacker page makes; `url` may be relative to the page. */
interface Attempt {
  label: string;
  url: string;
  init: { method?: string; mode?: 'cors' | 'no-cors'; headers?: Record<string, string>; body?: string };
}

/** What the page's JavaScript could see of an attempt: the response as fetch() gave it, or the error. */
type Observed = { type: string; status: number; body: string } | { error: string };

/**
 * The attacker's page. `attack(attempts)` runs each fetch() in the page's own origin, shows what it observed
 * in a table (for the screenshots) and returns it; a frame of `?frame=<url>` is added when asked.
 */
const ATTACKER_PAGE = `<!doctype html>
<meta charset="utf-8">
<title>${ATTACKER}</title>
<style>
  body { font: 14px sans-serif; margin: 16px; }
  td, th { border: 1px solid #999; padding: 4px 8px; text-align: left; vertical-align: top; }
  table { border-collapse: collapse; }
  pre { margin: 0; white-space: pre-wrap; max-width: 560px; }
</style>
<h1>A page of another site</h1>
<p>This page's origin: <code id="origin"></code></p>
<table><thead><tr><th>attempt</th><th>what this page's JavaScript observed</th></tr></thead>
<tbody id="results"></tbody></table>
<script>
  document.getElementById('origin').textContent = location.origin;
  async function observe(attempt) {
    try {
      const res = await fetch(attempt.url, attempt.init);
      return { type: res.type, status: res.status, body: (await res.text()).slice(0, 400) };
    } catch (err) {
      return { error: String(err) };
    }
  }
  window.attack = async (attempts) => {
    const seen = {};
    for (const attempt of attempts) {
      seen[attempt.label] = await observe(attempt);
      const row = document.getElementById('results').insertRow();
      row.insertCell().textContent =
        (attempt.init.method ?? 'GET') + ' ' + attempt.url + ' (mode ' + (attempt.init.mode ?? 'cors') + ')';
      const pre = document.createElement('pre');
      pre.textContent = JSON.stringify(seen[attempt.label], null, 1);
      row.insertCell().append(pre);
    }
    return seen;
  };
  const framed = new URLSearchParams(location.search).get('frame');
  if (framed) {
    const frame = document.createElement('iframe');
    frame.src = framed;
    document.body.append(frame);
  }
</script>
`;

/** Serves {@link ATTACKER_PAGE} at `/` on 127.0.0.1:`port` (0: any free port); 404 elsewhere. */
async function serveAttackerPage(port = 0): Promise<Server & { port: number }> {
  const server = createServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(ATTACKER_PAGE);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  onCleanup(() => closeServer(server));
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}

/** Closes `server` and cuts its kept-alive connections (the browser keeps them). Idempotent. */
async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

function attack(page: Page, attempts: Attempt[]): Promise<Record<string, Observed>> {
  type AttackerWindow = { attack(a: Attempt[]): Promise<Record<string, Observed>> };
  return page.evaluate((a) => (globalThis as unknown as AttackerWindow).attack(a), attempts);
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

/** The id of the proxy's only dead letter, as the real admin (a tool on localhost) lists it. */
async function onlyDeadLetterId(proxy: HttpProxy): Promise<string> {
  const list = await call(proxy, 'GET', '/_dispatcher/dead-letters', { host: 'localhost' });
  expect(list.status).toBe(200);
  const items = list.json.items as Array<{ id: string }>;
  expect(items).toHaveLength(1);
  return (items[0] as { id: string }).id;
}

const PURGE_ALL = '{"all":true}';

describe('admin API in a real browser', () => {
  let browser: Browser;
  /** A fresh browser context (no shared cache or connections), closed after the test. */
  async function newPage(): Promise<Page> {
    const context = await browser.newContext();
    onCleanup(() => context.close());
    return context.newPage();
  }

  // The first run on a machine may install the Debian package `chromium` (apt-get, as root).
  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    browser = await launchChromium({ hostResolverRules: `MAP ${ATTACKER} 127.0.0.1` });
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('a page of another origin can neither read the dead letters nor purge them', async () => {
    const proxy = await withDeadLetter();
    const id = await onlyDeadLetterId(proxy);
    const attacker = await serveAttackerPage();
    const page = await newPage();
    const origin = `http://${ATTACKER}:${attacker.port}`;
    await page.goto(`${origin}/`);

    // What the browser itself received, which the page's JavaScript may not see.
    const listUrl = `${proxy.url}/_dispatcher/dead-letters`;
    const listAnswer = page.waitForResponse(listUrl);
    const purgeAnswer = page.waitForResponse(`${listUrl}/purge`);
    const seen = await attack(page, [
      { label: 'read', url: listUrl, init: {} },
      { label: 'read (no-cors)', url: listUrl, init: { mode: 'no-cors' } },
      {
        // A 'simple' request: no preflight, the browser sends it as it is.
        label: 'purge (no-cors)',
        url: `${listUrl}/purge`,
        init: { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: PURGE_ALL },
      },
    ]);
    await screenshot(page, 'admin-browser-cross-origin');

    // The page could not read the list: no CORS grant, so fetch() fails, and a no-cors answer is opaque.
    expect(seen.read).toEqual({ error: expect.stringMatching(/^TypeError/) });
    expect(seen['read (no-cors)']).toEqual({ type: 'opaque', status: 0, body: '' });
    expect(seen['purge (no-cors)']).toEqual({ type: 'opaque', status: 0, body: '' });
    expect(JSON.stringify(seen)).not.toContain(id);
    expect(await page.textContent('body')).not.toContain(id);
    expect((await listAnswer).headers()['access-control-allow-origin']).toBeUndefined();

    // The purge did reach the proxy and was refused: from a loopback client naming 127.0.0.1, only the
    // Origin check answers 403 (Chromium keeps neither the body of an opaque answer nor the Origin it added).
    expect((await purgeAnswer).status()).toBe(403);
    expect(proxy.store.deadLetterCount).toBe(1);
    expect(await onlyDeadLetterId(proxy)).toBe(id);
  });

  it('a page rebound to the admin port (same origin) gets 421 for reads and writes; localhost still works', async () => {
    // The attacker's page is loaded from attacker.example:<port>; then the name "rebinds": the same
    // host and port now reach the proxy, so the page's requests to it are same-origin.
    const port = await getFreePort();
    const decoy = await serveAttackerPage(port);
    const page = await newPage();
    const origin = `http://${ATTACKER}:${port}`;
    await page.goto(`${origin}/`);
    await closeServer(decoy);
    const proxy = await withDeadLetter({ port });
    const id = await onlyDeadLetterId(proxy);

    const seen = await attack(page, [
      { label: 'read', url: '/_dispatcher/dead-letters', init: {} },
      {
        label: 'purge',
        url: '/_dispatcher/dead-letters/purge',
        init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: PURGE_ALL },
      },
    ]);
    await screenshot(page, 'admin-browser-dns-rebinding');

    // Same-origin ('basic') answers, so the page could read them: they are the proxy's refusals.
    for (const label of ['read', 'purge']) {
      expect(seen[label], label).toMatchObject({ type: 'basic', status: 421 });
      expect(JSON.parse((seen[label] as { body: string }).body), label).toMatchObject({
        error: 'misdirected_request',
      });
    }
    expect(JSON.stringify(seen)).not.toContain(id);
    expect(proxy.store.deadLetterCount).toBe(1);

    // The real admin API, named as a tool or the developer's own browser names it, keeps working.
    const real = await call(proxy, 'GET', '/_dispatcher/dead-letters', { host: `localhost:${port}` });
    expect(real.status).toBe(200);
    expect(real.json.items).toMatchObject([{ id }]);
  });

  it('admin answers reach the browser with nosniff, no-referrer and a CSP that forbids framing', async () => {
    const proxy = await startProxy();
    const admin = `http://localhost:${new URL(proxy.url).port}/_dispatcher/dead-letters`;
    const direct = await (await newPage()).goto(admin);
    expect(direct?.status()).toBe(200);
    expect(direct?.headers()).toMatchObject(ADMIN_HEADERS);

    // A page of another site that frames the admin API gets Chromium's error page in the frame.
    const attacker = await serveAttackerPage();
    const page = await newPage();
    const blocked = page.waitForEvent('console', (m) => m.text().includes("frame-ancestors 'none'"));
    const errorPage = page.waitForEvent('framenavigated', (f) => f.url() === 'chrome-error://chromewebdata/');
    const framed = page.waitForResponse(admin);
    await page.goto(`http://${ATTACKER}:${attacker.port}/?frame=${encodeURIComponent(admin)}`);
    expect((await framed).headers()).toMatchObject(ADMIN_HEADERS);
    expect((await blocked).type()).toBe('error');
    expect((await errorPage).parentFrame()).toBe(page.mainFrame());
    expect(page.frames().map((f) => f.url())).not.toContain(admin);
  });
});
