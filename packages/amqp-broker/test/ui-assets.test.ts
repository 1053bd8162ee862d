/**
 * The built admin page as the admin listener will serve it: where it is, and that it can run under
 * `UI_CONTENT_SECURITY_POLICY` (no inline script or style, nothing from another origin). Needs `pnpm build`.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveUiDir, UI_CONTENT_SECURITY_POLICY, UI_SECURITY_HEADERS } from '../src/index.js';

const dir = resolveUiDir();

describe('admin page assets', () => {
  it('resolves to the package dist/ui/ with the built index.html', () => {
    expect(dir).toMatch(/[/\\]amqp-broker[/\\]dist[/\\]ui[/\\]$/);
    expect(existsSync(join(dir, 'index.html'))).toBe(true);
  });

  it('has no inline script, no inline style element and no other origin in index.html', async () => {
    const html = await readFile(join(dir, 'index.html'), 'utf8');
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs).toMatch(/\bsrc="\.\/assets\/[^"]+\.js"/);
      expect(body?.trim()).toBe('');
    }
    expect(html).not.toMatch(/<style\b|\sstyle="|\son[a-z]+="/i);
    expect(html).not.toMatch(/(?:src|href)="(?:https?:)?\/\//i);
  });

  it('loads nothing from another origin in its bundles', async () => {
    const assets = await readdir(join(dir, 'assets'));
    expect(assets.some((f) => f.endsWith('.js'))).toBe(true);
    for (const file of assets.filter((f) => f.endsWith('.css'))) {
      const css = await readFile(join(dir, 'assets', file), 'utf8');
      expect(css).not.toMatch(/@import|url\(\s*['"]?(?:https?:)?\/\//i);
    }
  });

  it('sends a policy without unsafe sources and the other browser headers', () => {
    expect(UI_CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-|\*|https?:/);
    expect(UI_CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(UI_CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
    expect(UI_SECURITY_HEADERS).toMatchObject({
      'content-security-policy': UI_CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
  });
});
