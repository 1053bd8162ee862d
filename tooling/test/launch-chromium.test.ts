import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MissingBinaryError } from '../src/ensure-binary.js';
import { CHROMIUM_PATH, launchChromium } from '../src/launch-chromium.js';

describe('launchChromium', () => {
  // The first run on a machine may install the Debian package.
  it('starts Debian Chromium headless, with names resolved by the given rules', {
    timeout: 600_000,
  }, async () => {
    const hosts: Array<string | undefined> = [];
    const server = createServer((req, res) => {
      hosts.push(req.headers.host);
      res.writeHead(200, { 'content-type': 'text/html' }).end('<title>mapped</title><p id="p">served</p>');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const browser = await launchChromium({ hostResolverRules: 'MAP tooling-page.test 127.0.0.1' });
    try {
      expect(browser.version()).toMatch(/^\d+\./);
      const page = await browser.newPage();
      const response = await page.goto(`http://tooling-page.test:${port}/`);
      expect(response?.status()).toBe(200);
      expect(await page.title()).toBe('mapped');
      expect(await page.textContent('#p')).toBe('served');
      // The browser connected to 127.0.0.1 and still named the site as the page's URL does.
      expect(hosts).toContain(`tooling-page.test:${port}`);
    } finally {
      await browser.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('names the Debian package when the browser is missing and may not be installed', async () => {
    const error = await launchChromium({
      executablePath: '/nonexistent/chromium',
      install: false,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MissingBinaryError);
    expect((error as MissingBinaryError).debianPackage).toBe('chromium');
    expect((error as Error).message).toContain('apt-get install chromium');
    expect(CHROMIUM_PATH).toBe('/usr/bin/chromium');
  });
});
