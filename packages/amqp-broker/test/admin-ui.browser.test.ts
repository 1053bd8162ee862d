/**
 * The admin page end to end in real headless Chromium (Debian's, installed on first run), against a real
 * management API: RabbitMQ's own plugin (15672), reached through a test-only server that serves `dist/ui/`
 * and passes `/api/` on, so the page and the API share one origin as on dispatchd's admin listener.
 * Statistics on the API side refresh every 5 s and the page polls every 5 s: every check waits for a
 * condition with a generous deadline. Screenshots go to `test-artifacts/admin-ui/` (gitignored).
 */
import { randomBytes } from 'node:crypto';
import type { Page } from '@dispatcher/tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPageBrowser, logIn as logInAs } from './helpers/admin-page-browser.js';
import { ensureRabbitmqManagement, type ManagementApi, managementApi } from './helpers/management-api.js';
import { startUiServer, type UiServer } from './helpers/ui-server.js';

/** Long enough for a 5 s statistics interval plus a 5 s poll on a busy two-core machine. */
const STATS_DEADLINE_MS = 45_000;

const suffix = randomBytes(4).toString('hex');
const vhost = `dsp-ui-${suffix}`;
const user = `dsp-ui-${suffix}`;
const password = randomBytes(12).toString('base64url');

let admin: ManagementApi;
let server: UiServer;
const { openPage: open, shot, publishGetPurge } = adminPageBrowser('rabbitmq-');

/** A new page in its own context that records CSP violations and accepts confirm() dialogs. */
function openPage(viewport = { width: 1280, height: 900 }): Promise<Page> {
  // Browser-side code is passed as source text: this file is type-checked without the DOM library.
  return open(server.url, {
    viewport,
    initScript: `
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
    });
  `,
  });
}

function logIn(page: Page, name = user, secret = password): Promise<void> {
  return logInAs(page, name, secret);
}

beforeAll(async () => {
  const baseUrl = await ensureRabbitmqManagement();
  admin = managementApi(baseUrl, 'guest', 'guest');
  expect((await admin.call('PUT', `vhosts/${vhost}`, {})).status).toBe(201);
  expect((await admin.call('PUT', `users/${user}`, { password, tags: 'administrator' })).status).toBe(201);
  const all = { configure: '.*', write: '.*', read: '.*' };
  expect((await admin.call('PUT', `permissions/${vhost}/${user}`, all)).status).toBe(201);
  server = await startUiServer(baseUrl);
});

afterAll(async () => {
  await server?.close();
  await admin?.call('DELETE', `users/${user}`);
  await admin?.call('DELETE', `vhosts/${vhost}`);
});

describe('admin page on RabbitMQ management API', () => {
  it('logs in, declares a queue, publishes, sees the depth, gets the message, purges and deletes', async () => {
    const page = await openPage();
    await logIn(page);
    // Both uPlot charts are drawn, and have a second sample from the 5 s poll.
    await page.locator('.chart[data-samples="2"]').nth(1).waitFor({ timeout: 30_000 });
    await expect.poll(() => page.locator('.chart-canvas canvas').count()).toBe(2);
    await shot(page, 'overview');

    const queue = `orders-${suffix}`;
    await page.getByRole('link', { name: 'Queues', exact: true }).click();
    await page.getByRole('heading', { name: 'Queues' }).waitFor();
    await page.getByLabel('Vhost', { exact: true }).selectOption(vhost);
    await page.getByLabel('Name', { exact: true }).fill(queue);
    await page.getByLabel('Name', { exact: true }).press('Enter');
    await page
      .getByRole('status')
      .filter({ hasText: `Queue ${queue} declared.` })
      .waitFor();
    expect((await admin.call('GET', `queues/${vhost}/${queue}`)).status).toBe(200);

    // The API's {error, reason} shows up as the form's error: the same name, not durable, is refused.
    await page.getByLabel('Vhost', { exact: true }).selectOption(vhost);
    await page.getByLabel('Name', { exact: true }).fill(queue);
    await page.getByLabel('Durable').uncheck();
    await page.getByRole('button', { name: 'Declare queue' }).click();
    const refusal = page.getByRole('alert').filter({ hasText: 'inequivalent arg' });
    await refusal.waitFor();
    expect(await refusal.textContent()).toMatch(/^400 bad_request: /);

    await page.getByRole('link', { name: queue }).click();
    await page.getByRole('heading', { name: `Queue ${queue}` }).waitFor();
    const payload = `hello from the admin page ${suffix}`;
    await publishGetPurge(page, queue, payload, STATS_DEADLINE_MS);
    const got = await admin.call('POST', `queues/${vhost}/${queue}/get`, {
      count: 1,
      ackmode: 'ack_requeue_true',
      encoding: 'auto',
    });
    expect(got.body).toEqual([]);

    await page.getByRole('button', { name: 'Delete queue' }).click();
    await page.getByRole('heading', { name: 'Queues' }).waitFor();
    expect((await admin.call('GET', `queues/${vhost}/${queue}`)).status).toBe(404);

    // Nothing of the login is left in the browser, and the page kept to its Content-Security-Policy.
    expect(await page.evaluate('[localStorage.length, sessionStorage.length, document.cookie]')).toEqual([
      0,
      0,
      '',
    ]);
    expect(await page.context().cookies()).toEqual([]);
    expect(await page.evaluate('window.cspViolations')).toEqual([]);
  });

  it('declares an exchange, publishes to it unrouted, binds a queue and deletes the exchange', async () => {
    const page = await openPage();
    await logIn(page);
    const exchange = `events-${suffix}`;
    await page.getByRole('link', { name: 'Exchanges' }).click();
    await page.getByLabel('Vhost', { exact: true }).selectOption(vhost);
    await page.getByLabel('Name', { exact: true }).fill(exchange);
    await page.getByLabel('Type').selectOption('fanout');
    await page.getByRole('button', { name: 'Declare exchange' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Exchange ${exchange} declared.` })
      .waitFor();
    expect((await admin.call('GET', `exchanges/${vhost}/${exchange}`)).status).toBe(200);

    await page.getByRole('button', { name: `Publish to ${exchange} in ${vhost}` }).click();
    await page.getByLabel('Payload').fill('nobody listens');
    await page.getByRole('button', { name: 'Publish message' }).click();
    await page.getByRole('status').filter({ hasText: 'not routed' }).waitFor();

    const queue = `audit-${suffix}`;
    expect((await admin.call('PUT', `queues/${vhost}/${queue}`, { durable: false })).status).toBe(201);
    await page.goto(`${server.url}#/queues/${vhost}/${queue}`);
    await page.getByRole('heading', { name: `Queue ${queue}` }).waitFor();
    await page.getByLabel('From exchange').fill(exchange);
    await page.getByRole('button', { name: 'Bind' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Bound to ${exchange}.` })
      .waitFor();
    const bindings = await admin.call('GET', `exchanges/${vhost}/${exchange}/bindings/source`);
    expect(bindings.body).toMatchObject([{ destination: queue, destination_type: 'queue' }]);

    await page.getByRole('link', { name: 'Exchanges' }).click();
    await page.getByRole('button', { name: `Delete exchange ${exchange} in ${vhost}` }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Exchange ${exchange} deleted.` })
      .waitFor();
    expect((await admin.call('GET', `exchanges/${vhost}/${exchange}`)).status).toBe(404);
  });

  it('logs in and moves around with the keyboard only, with a visible focus', async () => {
    const page = await openPage();
    // The username field takes focus on load, but Chromium moves it there at its next rendering step, which
    // may come after the load event that page.goto waits for: keys typed before it are lost (the username then
    // lacks its first letters and the right password is refused too). Type once it has focus.
    await page.waitForFunction("document.activeElement?.id === 'login-username'");
    await page.keyboard.type(user);
    await page.keyboard.press('Tab');
    // A wrong password is refused with the API's answer.
    await page.keyboard.type('not the password');
    await page.keyboard.press('Enter');
    const refused = page.getByRole('alert').filter({ hasText: 'Login failed: 401' });
    await refused.waitFor();
    expect(await page.getByLabel('Username').inputValue()).toBe(user);
    expect(await page.getByRole('heading', { name: 'Overview' }).count()).toBe(0);
    // Enter submits only through an enabled submit button: wait for the refused login to have settled.
    await page.getByRole('button', { name: 'Log in', disabled: false }).waitFor();

    await page.getByLabel('Password').focus();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type(password);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Overview' }).waitFor({ timeout: 30_000 });

    // Tab from the top of the page to the Queues link, then follow it with Enter.
    await page.locator('body').focus();
    let onQueues = false;
    for (let i = 0; i < 30 && !onQueues; i++) {
      await page.keyboard.press('Tab');
      onQueues = (await page.evaluate("document.activeElement?.textContent === 'Queues'")) === true;
    }
    expect(onQueues).toBe(true);
    const outline = (await page.evaluate(`(() => {
      const style = getComputedStyle(document.activeElement);
      return { style: style.outlineStyle, width: style.outlineWidth };
    })()`)) as { style: string; width: string };
    expect(outline.style).not.toBe('none');
    expect(outline.width).not.toBe('0px');
    await shot(page, 'keyboard-focus');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Queues' }).waitFor();
    // The view takes focus (after its first render), so the next Tab starts inside it.
    await expect.poll(() => page.evaluate('document.activeElement?.id'), { timeout: 15_000 }).toBe('main');
  });

  it('fits a narrow window: the page does not scroll sideways, the tables do', async () => {
    const page = await openPage({ width: 360, height: 740 });
    await logIn(page);
    await page.getByRole('link', { name: 'Queues', exact: true }).click();
    // The Overview has tables too: wait for the Queues view itself, then for its table.
    await page.getByRole('heading', { name: 'Queues', exact: true, level: 1 }).waitFor();
    await page.locator('#queues-title ~ * .table-scroll, main .table-scroll').first().waitFor();
    const widths = (await page.evaluate(`(() => {
      const table = document.querySelector('.table-scroll');
      return {
        page: document.documentElement.scrollWidth,
        viewport: window.innerWidth,
        tableContent: table.scrollWidth,
        tableBox: table.clientWidth,
      };
    })()`)) as { page: number; viewport: number; tableContent: number; tableBox: number };
    expect(widths.page).toBeLessThanOrEqual(widths.viewport);
    expect(widths.tableContent).toBeGreaterThan(widths.tableBox);
    await shot(page, 'narrow');
  });

  it('goes back to the login form when the API answers 401', async () => {
    const short = `dsp-ui-gone-${suffix}`;
    const secret = randomBytes(12).toString('base64url');
    expect((await admin.call('PUT', `users/${short}`, { password: secret, tags: 'monitoring' })).status).toBe(
      201,
    );
    const page = await openPage();
    try {
      await logIn(page, short, secret);
    } finally {
      await admin.call('DELETE', `users/${short}`);
    }
    // The overview polls every 5 s; its next call is refused.
    await page.getByRole('alert').filter({ hasText: 'log in again' }).waitFor({ timeout: STATS_DEADLINE_MS });
    expect(await page.getByRole('button', { name: 'Log in' }).isVisible()).toBe(true);
  });
  it('gives a page of another site nothing to ride on: no ambient credentials, no framing', async () => {
    const queue = `csrf-${suffix}`;
    expect((await admin.call('PUT', `queues/${vhost}/${queue}`, { durable: false })).status).toBe(201);
    const page = await openPage();
    await logIn(page);
    // Another site, opened in the same browser profile while the admin page is logged in. It is on loopback
    // too (another origin: other host name and port), so Chromium's private-network checks do not stop its
    // requests before they reach the API: what stops them is the page's design.
    const attacker = await page.context().newPage();
    await attacker.route('http://localhost:9/**', (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!doctype html><title>attacker</title><iframe src="${server.url}"></iframe>`,
      }),
    );
    await attacker.goto('http://localhost:9/');
    const observed = await attacker.evaluate(`(async () => {
      const read = await fetch(${JSON.stringify(`${server.url}api/queues`)}, { credentials: 'include' })
        .then((r) => 'status ' + r.status, (e) => 'blocked ' + e.name);
      const write = await fetch(${JSON.stringify(`${server.url}api/exchanges/${vhost}/amq.default/publish`)}, {
        method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' },
        body: JSON.stringify({ properties: {}, routing_key: ${JSON.stringify(queue)}, payload: 'forged', payload_encoding: 'string' }),
      }).then((r) => r.type, (e) => 'blocked ' + e.name);
      return { read, write };
    })()`);
    // The read is refused by CORS. The blind write (no-cors) carries no credentials: whether Chromium lets it
    // out (opaque answer, the API's 401) or fails it (it does today), nothing may reach the queue.
    expect(observed).toMatchObject({ read: 'blocked TypeError' });
    expect(['opaque', 'blocked TypeError']).toContain((observed as { write: string }).write);
    const got = await admin.call('POST', `queues/${vhost}/${queue}/get`, {
      count: 1,
      ackmode: 'ack_requeue_false',
      encoding: 'auto',
    });
    expect(got.body).toEqual([]);
    // frame-ancestors 'none': the framed admin page never renders inside the other site.
    const framed = attacker.frames().find((f) => f !== attacker.mainFrame());
    expect(framed).toBeDefined();
    expect(await framed?.getByRole('button', { name: 'Log in' }).count()).toBe(0);
    expect(framed?.url()).not.toBe(server.url);
    await shot(attacker, 'cross-site');
  });
});
