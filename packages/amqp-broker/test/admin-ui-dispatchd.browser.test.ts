/**
 * The admin page end to end in real headless Chromium against dispatchd's OWN admin listener (the
 * AdminServer serving `dist/ui/` and the API on one port), logged in with broker users:
 *
 * - an administrator logs in, declares a queue, publishes a test message, sees the depth change, gets the
 *   message, purges and closes an AMQP client's connection;
 * - the page follows the user's tags as RabbitMQ does: a `management` user sees only its vhost, its own
 *   connections, no nodes and no user administration; a `monitoring` user sees every connection but may
 *   close only its own; a user without a management tag is told it is not authorised at login.
 *
 * The page polls every 5 s: every check waits for a condition with a generous deadline. Screenshots go to
 * `test-artifacts/admin-ui/dispatchd-*.png` (gitignored).
 */
import { randomBytes } from 'node:crypto';
import type { Page } from '@dispatcher/tooling';
import type { ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminServer } from '../src/admin/index.js';
import { BrokerServer } from '../src/index.js';
import { adminPageBrowser, logIn as logInAs, submitLogin } from './helpers/admin-page-browser.js';
import { type ManagementApi, managementApi } from './helpers/management-api.js';
import { trackedConnection } from './helpers/tracked-connection.js';

/** A 5 s page poll on a busy two-core machine. */
const POLL_DEADLINE_MS = 45_000;

const secret = () => randomBytes(12).toString('base64url');
const USERS = {
  ops: { password: secret(), tags: ['administrator'] },
  dev: { password: secret(), tags: ['management'] },
  watch: { password: secret(), tags: ['monitoring'] },
  plain: { password: secret(), tags: [] as string[] },
} as const;
type UserName = keyof typeof USERS;
const ALL = { configure: '.*', write: '.*', read: '.*' };

let broker: BrokerServer;
let admin: AdminServer;
let api: ManagementApi;
let baseUrl: string;
const { openPage: open, shot, publishGetPurge } = adminPageBrowser('dispatchd-');
const clients: ChannelModel[] = [];

function devQueue(name: string) {
  return [...(broker.vhost('dev')?.queues() ?? [])].find((q) => q.name === name);
}

function openPage(): Promise<Page> {
  return open(baseUrl);
}

function fillLogin(page: Page, user: UserName): Promise<void> {
  return submitLogin(page, user, USERS[user].password);
}

function logIn(page: Page, user: UserName): Promise<void> {
  return logInAs(page, user, USERS[user].password);
}

/** An AMQP client of `user` on `vhost`; resolves its close reason once it is closed from the broker side. */
async function client(user: UserName, vhost: string, connectionName: string) {
  const { conn, reason } = await trackedConnection(
    `amqp://${user}:${encodeURIComponent(USERS[user].password)}@127.0.0.1:${broker.port}/${encodeURIComponent(vhost)}`,
    { clientProperties: { connection_name: connectionName } },
  );
  clients.push(conn);
  const name = broker.connections().find((c) => c.clientProvidedName === connectionName)?.name;
  if (name === undefined) throw new Error(`connection ${connectionName} not listed`);
  return { name, reason };
}

beforeAll(async () => {
  broker = new BrokerServer({
    port: 0,
    vhosts: ['/', 'dev'],
    users: USERS,
    permissions: [
      { user: 'ops', vhost: '/', ...ALL },
      { user: 'ops', vhost: 'dev', ...ALL },
      { user: 'dev', vhost: 'dev', ...ALL },
      { user: 'watch', vhost: 'dev', ...ALL },
      { user: 'plain', vhost: 'dev', ...ALL },
    ],
  });
  await broker.start();
  admin = new AdminServer({ broker, port: 0, statsIntervalMs: 1_000 });
  await admin.start();
  baseUrl = `http://127.0.0.1:${admin.port}/`;
  api = managementApi(baseUrl.slice(0, -1), 'ops', USERS.ops.password);
  // Something the management user must not see: a queue in a vhost it has no permission on.
  expect((await api.call('PUT', 'queues/%2F/ops-only-q', { durable: false })).status).toBe(201);
  expect((await api.call('PUT', 'queues/dev/dev-q', { durable: false })).status).toBe(201);
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await admin?.close();
  await broker?.close();
});

describe("admin page on dispatchd's own admin listener", () => {
  it('an administrator declares a queue, publishes, sees the depth, gets, purges and closes a connection', async () => {
    const page = await openPage();
    await logIn(page, 'ops');
    await page.locator('.chart[data-samples="2"]').nth(1).waitFor({ timeout: 30_000 });
    await shot(page, 'overview');

    const queue = `orders-${randomBytes(3).toString('hex')}`;
    await page.getByRole('link', { name: 'Queues', exact: true }).click();
    await page.getByRole('heading', { name: 'Queues' }).waitFor();
    await page.getByLabel('Vhost', { exact: true }).selectOption('dev');
    await page.getByLabel('Name', { exact: true }).fill(queue);
    await page.getByRole('button', { name: 'Declare queue' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Queue ${queue} declared.` })
      .waitFor();
    expect(devQueue(queue) !== undefined).toBe(true);

    await page.getByRole('link', { name: queue }).click();
    await page.getByRole('heading', { name: `Queue ${queue}` }).waitFor();
    await expect
      .poll(() => page.getByTestId('queue-ready').textContent(), { timeout: POLL_DEADLINE_MS })
      .toBe('0');
    const payload = `hello dispatchd ${randomBytes(3).toString('hex')}`;
    await publishGetPurge(page, queue, payload, POLL_DEADLINE_MS);
    expect(devQueue(queue)?.messageCount).toBe(0);

    // An AMQP client's connection, closed from the page: the client gets 320 with the management reason.
    const conn = await client('dev', 'dev', 'e2e-worker');
    await page.getByRole('link', { name: 'Connections' }).click();
    await page.getByRole('heading', { name: 'Connections' }).waitFor();
    const close = page.getByRole('button', { name: `Close connection ${conn.name}` });
    await close.waitFor({ timeout: POLL_DEADLINE_MS });
    await shot(page, 'connections');
    await close.click();
    await page
      .getByRole('status')
      .filter({ hasText: `Connection ${conn.name} closed.` })
      .waitFor();
    await expect
      .poll(conn.reason, { timeout: 15_000 })
      .toMatch(/320 \(CONNECTION-FORCED\) with message "CONNECTION_FORCED - Closed via management plugin"/);
    await expect.poll(() => close.count(), { timeout: POLL_DEADLINE_MS }).toBe(0);
  });

  it('a management user sees only its vhost and its own connections, no nodes, no user administration', async () => {
    const own = await client('dev', 'dev', 'dev-own');
    const others = await client('ops', '/', 'ops-other');
    const page = await openPage();
    await logIn(page, 'dev');
    expect(await page.getByRole('link', { name: 'Users & vhosts' }).count()).toBe(0);
    // Once the overview's poll has answered: no node table, no errors anywhere.
    await expect
      .poll(() => page.locator('dl.totals').textContent(), { timeout: POLL_DEADLINE_MS })
      .toContain('connections');
    expect(await page.getByRole('heading', { name: 'Nodes' }).count()).toBe(0);
    expect(await page.getByRole('alert').count()).toBe(0);
    await shot(page, 'management-overview');

    await page.getByRole('link', { name: 'Queues', exact: true }).click();
    await page.getByRole('heading', { name: 'Queues' }).waitFor();
    const queuesTable = page.getByRole('table', { name: 'Queues' });
    await queuesTable.waitFor();
    await expect.poll(() => queuesTable.textContent(), { timeout: POLL_DEADLINE_MS }).toContain('dev-q');
    expect(await queuesTable.textContent()).not.toContain('ops-only-q');
    // The declare form offers only its vhost.
    await expect
      .poll(() => page.getByLabel('Vhost', { exact: true }).locator('option').allTextContents())
      .toEqual(['dev']);

    await page.getByRole('link', { name: 'Connections' }).click();
    const mine = page.getByRole('button', { name: `Close connection ${own.name}` });
    await mine.waitFor({ timeout: POLL_DEADLINE_MS });
    expect(await page.getByRole('button', { name: `Close connection ${others.name}` }).count()).toBe(0);
    expect(await mine.isEnabled()).toBe(true);
    await shot(page, 'management-connections');
    await mine.click();
    await page
      .getByRole('status')
      .filter({ hasText: `Connection ${own.name} closed.` })
      .waitFor();
    await expect.poll(own.reason, { timeout: 15_000 }).toMatch(/320 \(CONNECTION-FORCED\)/);
    expect(others.reason()).toBeUndefined();

    // The administration section is not offered, and typing its address says why instead of breaking.
    await page.goto(`${baseUrl}#/access`);
    await page.getByRole('alert').filter({ hasText: 'Not authorised' }).waitFor();
    expect(await page.getByRole('button', { name: 'Log in' }).count()).toBe(0);
  });

  it('a monitoring user sees every connection and the nodes, but may close only its own', async () => {
    const others = await client('dev', 'dev', 'dev-watched');
    const page = await openPage();
    await logIn(page, 'watch');
    await page.getByRole('heading', { name: 'Nodes' }).waitFor();
    await page
      .getByRole('table', { name: 'Nodes' })
      .getByRole('row')
      .nth(1)
      .waitFor({ timeout: POLL_DEADLINE_MS });
    expect(await page.getByRole('link', { name: 'Users & vhosts' }).count()).toBe(0);

    await page.getByRole('link', { name: 'Connections' }).click();
    const theirs = page.getByRole('button', { name: `Close connection ${others.name}` });
    await theirs.waitFor({ timeout: POLL_DEADLINE_MS });
    expect(await theirs.isDisabled()).toBe(true);
    await shot(page, 'monitoring-connections');
    expect(others.reason()).toBeUndefined();

    // A refusal of one object (a vhost it has no permission on) is shown, and the session stays.
    await page.getByRole('link', { name: 'Queues', exact: true }).click();
    await page.getByRole('heading', { name: 'Queues' }).waitFor();
    const vhostSelect = page.getByLabel('Vhost', { exact: true });
    await expect.poll(() => vhostSelect.locator('option').allTextContents()).toEqual(['/', 'dev']);
    await vhostSelect.selectOption('/');
    await page.getByLabel('Name', { exact: true }).fill('watch-q');
    await page.getByRole('button', { name: 'Declare queue' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: '401 not_authorised: User not authorised to access virtual host' })
      .waitFor();
    expect(await page.getByRole('heading', { name: 'Queues' }).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Log in' }).count()).toBe(0);
    expect(await api.call('GET', 'queues/%2F/watch-q')).toMatchObject({ status: 404 });
  });

  it('a user without a management tag is told it is not authorised at login', async () => {
    const page = await openPage();
    await fillLogin(page, 'plain');
    const refused = page
      .getByRole('alert')
      .filter({ hasText: 'Not authorised: user plain may not use the admin page' });
    await refused.waitFor({ timeout: 30_000 });
    expect(await refused.textContent()).toContain('administrator, monitoring, management, policymaker');
    expect(await page.getByRole('heading', { name: 'Overview' }).count()).toBe(0);
    await shot(page, 'not-authorised');
    // A wrong password is still a failed login, not "not authorised".
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Login failed: 401' }).waitFor();
  });
});
