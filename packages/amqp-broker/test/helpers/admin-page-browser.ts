/**
 * Headless Chromium for the admin page's browser tests: checks the page is built, launches the browser
 * before the file's tests and closes it after them, gives each test fresh contexts (closed when the test
 * ends: a context left open keeps its page's timers and charts running beside the next test's page), and
 * saves screenshots under `test-artifacts/admin-ui/` (gitignored).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, launchChromium, type Page } from '@dispatcher/tooling';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { resolveUiDir } from '../../src/ui-assets.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/admin-ui/', import.meta.url));

export interface AdminPageBrowser {
  /** The browser (launched once the file's `beforeAll` hooks run). */
  readonly browser: () => Browser;
  /** A new page at `url` in its own context, accepting confirm() dialogs; `initScript` runs before the page's. */
  openPage(
    url: string,
    options?: { viewport?: { width: number; height: number }; initScript?: string },
  ): Promise<Page>;
  /** A full-page screenshot saved as `<prefix><name>.png`. */
  shot(page: Page, name: string): Promise<void>;
  /**
   * On an empty queue's page: publishes `payload` and waits for the depth 1 (screenshot `queue`), gets it
   * back requeued (screenshot `message`), purges and waits for the depth 0. The page polls: each depth
   * may take up to `deadlineMs`.
   */
  publishGetPurge(page: Page, queue: string, payload: string, deadlineMs: number): Promise<void>;
}

/** Registers the file's hooks (see the file header); screenshots are named `<prefix><name>.png`. */
export function adminPageBrowser(prefix: string): AdminPageBrowser {
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  beforeAll(async () => {
    if (!existsSync(join(resolveUiDir(), 'index.html'))) {
      throw new Error(`the admin page is not built (${resolveUiDir()}): run pnpm build first`);
    }
    await mkdir(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
  });
  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close().catch(() => undefined);
  });
  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
  });
  const shot = async (page: Page, name: string): Promise<void> => {
    await page.screenshot({ path: join(ARTIFACTS, `${prefix}${name}.png`), fullPage: true });
  };
  const launched = (): Browser => {
    if (browser === undefined) throw new Error('Chromium is launched in beforeAll');
    return browser;
  };
  return {
    browser: launched,
    async openPage(url, { viewport = { width: 1280, height: 900 }, initScript } = {}) {
      const context = await launched().newContext({ viewport });
      contexts.push(context);
      const page = await context.newPage();
      if (initScript !== undefined) await page.addInitScript(initScript);
      page.on('dialog', (dialog) => void dialog.accept());
      await page.goto(url);
      return page;
    },
    shot,
    async publishGetPurge(page, queue, payload, deadlineMs) {
      const depth = (testId: string) =>
        expect.poll(() => page.getByTestId(testId).textContent(), { timeout: deadlineMs, interval: 250 });
      await page.getByLabel('Payload').fill(payload);
      await page.getByRole('button', { name: 'Publish message' }).click();
      await page.getByRole('status').filter({ hasText: 'Message published.' }).waitFor();
      await depth('queue-ready').toBe('1');
      await shot(page, 'queue');

      await page.getByLabel('Ack mode').selectOption('ack_requeue_true');
      await page.getByRole('button', { name: 'Get messages' }).click();
      await page.getByRole('status').filter({ hasText: 'Got 1 message(s).' }).waitFor();
      expect(await page.locator('.payload').first().textContent()).toBe(payload);
      await shot(page, 'message');

      await page.getByRole('button', { name: 'Purge messages' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Queue ${queue} purged.` })
        .waitFor();
      await depth('queue-total').toBe('0');
    },
  };
}

/** Fills the login form and submits it with the button. */
export async function submitLogin(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/** Logs in and waits for the Overview. */
export async function logIn(page: Page, username: string, password: string): Promise<void> {
  await submitLogin(page, username, password);
  await page.getByRole('heading', { name: 'Overview' }).waitFor({ timeout: 30_000 });
}
