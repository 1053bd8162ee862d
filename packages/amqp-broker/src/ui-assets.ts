import { fileURLToPath } from 'node:url';

/**
 * The admin page's built files (`index.html` and `assets/`), as `pnpm build` writes them with Vite from
 * `src/ui/`. The same path from `src/` (tests under tsx) and from `dist/` (the published package), since
 * both sit one level below the package root.
 *
 * @returns An absolute directory path with a trailing separator; it may not exist when the package was not built.
 */
export function resolveUiDir(): string {
  return fileURLToPath(new URL('../dist/ui/', import.meta.url));
}

/**
 * Content-Security-Policy the admin page satisfies: its own scripts, styles and API only; no inline script
 * or style element, no other origin, no framing. The page sets styles through the CSSOM only (Preact, uPlot),
 * which `style-src` does not restrict.
 */
export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers to send with every file of the admin page (issue #16: CSP, no sniffing, no referrer, no framing). */
export const UI_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': UI_CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
});
