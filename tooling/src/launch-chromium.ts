import type { Browser } from 'playwright-core';
import { ensureBinary } from './ensure-binary.js';

/** Where Debian's `chromium` package puts the browser; page tests drive it, never a downloaded build. */
export const CHROMIUM_PATH = '/usr/bin/chromium';
/** The Debian package that provides {@link CHROMIUM_PATH}. */
export const CHROMIUM_DEBIAN_PACKAGE = 'chromium';

/** Options for {@link launchChromium}. */
export interface LaunchChromiumOptions {
  /**
   * Chromium's `--host-resolver-rules`, e.g. `MAP attacker.example 127.0.0.1`: names resolve as the rules
   * say, without DNS (a page test can give a local server any name). No rules by default.
   */
  hostResolverRules?: string;
  /** Further Chromium command-line switches. */
  args?: readonly string[];
  /** The browser binary. @defaultValue {@link CHROMIUM_PATH} */
  executablePath?: string;
  /**
   * Whether a missing browser may be installed (apt-get, as root); see `ensureBinary`.
   * @defaultValue true unless `DISPATCHER_NO_APT_INSTALL=1`
   */
  install?: boolean;
  /** How long to wait for the browser to start, in milliseconds. @defaultValue 30000 */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Starts headless Chromium through playwright-core. The browser is Debian's (installed with apt-get when
 * missing and the process is root, or a `MissingBinaryError` naming the package); Playwright never downloads
 * one. The sandbox is off: Chromium refuses to start as root with it, and test machines run as root.
 * The caller closes the browser.
 *
 * @throws `MissingBinaryError` when the browser is not installed and cannot be.
 */
export async function launchChromium(options: LaunchChromiumOptions = {}): Promise<Browser> {
  const executablePath = await ensureBinary(options.executablePath ?? CHROMIUM_PATH, {
    debianPackage: CHROMIUM_DEBIAN_PACKAGE,
    ...(options.install === undefined ? {} : { install: options.install }),
  });
  // Loaded here, not at the top: importing playwright-core takes most of a second, and every test file that
  // imports this package for its other helpers would pay it.
  const { chromium } = await import('playwright-core');
  const args = [...(options.args ?? [])];
  if (options.hostResolverRules) args.push(`--host-resolver-rules=${options.hostResolverRules}`);
  return chromium.launch({
    executablePath,
    headless: true,
    // Playwright passes --no-sandbox for this; explicit so a change of its default cannot break root runs.
    chromiumSandbox: false,
    args,
    timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  });
}
