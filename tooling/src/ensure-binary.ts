import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { withFileLock } from './file-lock.js';

/** Options for {@link ensureBinary}. */
export interface EnsureBinaryOptions {
  /** Debian package that provides the binary (defaults to the binary's name). */
  debianPackage?: string;
  /**
   * Whether a missing binary may be installed with apt-get. Defaults to true unless
   * `DISPATCHER_NO_APT_INSTALL=1`; installing only ever happens as root with apt-get present.
   */
  install?: boolean;
}

/** Thrown when a binary is not installed and could not (or may not) be installed automatically. */
export class MissingBinaryError extends Error {
  override readonly name = 'MissingBinaryError';

  constructor(
    readonly binary: string,
    readonly debianPackage: string,
    detail?: string,
  ) {
    super(
      `${binary} not found: install the Debian package "${debianPackage}" (apt-get install ${debianPackage})` +
        (detail ? `; ${detail}` : ''),
    );
  }
}

// sbin directories are often missing from a non-login PATH although daemons such as beanstalkd live there.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const APT_LOCK_FILE = join(tmpdir(), 'dispatcher-tooling-apt.lock');
const APT_LOCK_BUSY = /could not get lock|unable to acquire|is another process using it|lock-frontend/i;

/** One install per package per process, shared by every concurrent caller. */
const installs = new Map<string, Promise<void>>();
let aptUpdated: Promise<void> | undefined;

/**
 * Looks a binary up on PATH and in the usual system directories.
 *
 * @param binary - Bare name (`redis-server`) or a path containing `/`, which is checked as is.
 * @returns The absolute path of an executable file, or undefined.
 */
export async function findBinary(binary: string): Promise<string | undefined> {
  const candidates = binary.includes('/')
    ? [binary]
    : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS].map((dir) =>
        join(dir, binary),
      );
  for (const candidate of new Set(candidates)) {
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Returns the path of `binary`, installing its Debian package first when it is missing, the process is root
 * and apt-get exists. Concurrent callers, in this process or in other test workers, share one install.
 *
 * @throws {@link MissingBinaryError} naming the Debian package when the binary stays unavailable.
 */
export async function ensureBinary(binary: string, options: EnsureBinaryOptions = {}): Promise<string> {
  const debianPackage = options.debianPackage ?? binary;
  const found = await findBinary(binary);
  if (found) return found;

  const install = options.install ?? process.env.DISPATCHER_NO_APT_INSTALL !== '1';
  if (!install) throw new MissingBinaryError(binary, debianPackage);
  if (process.getuid?.() !== 0)
    throw new MissingBinaryError(binary, debianPackage, 'not root, so not installing it');
  const aptGet = await findBinary('apt-get');
  if (!aptGet) throw new MissingBinaryError(binary, debianPackage, 'apt-get is not available');

  let pending = installs.get(debianPackage);
  if (!pending) {
    pending = installUnderLock(aptGet, binary, debianPackage);
    installs.set(debianPackage, pending);
    // A failed attempt must not be cached: a later caller may succeed once the network or apt recovers.
    pending.catch(() => installs.delete(debianPackage));
  }
  try {
    await pending;
  } catch (error) {
    throw new MissingBinaryError(
      binary,
      debianPackage,
      `automatic install failed: ${(error as Error).message}`,
    );
  }
  const installed = await findBinary(binary);
  if (!installed)
    throw new MissingBinaryError(binary, debianPackage, `package installed but ${binary} is not in it`);
  return installed;
}

async function installUnderLock(aptGet: string, binary: string, debianPackage: string): Promise<void> {
  // The file lock serialises test workers of this machine; apt's own lock would also serialise them, but
  // each loser would then run a redundant `apt-get update` and fail on the lock before retrying.
  await withFileLock(APT_LOCK_FILE, async () => {
    // Another process may have installed it while this one waited for the lock.
    if (await findBinary(binary)) return;
    aptUpdated ??= runApt(aptGet, ['update']).catch((error: unknown) => {
      aptUpdated = undefined;
      throw error;
    });
    await aptUpdated;
    await runApt(aptGet, [
      'install',
      '-y',
      '--no-install-recommends',
      '-o',
      'Dpkg::Options::=--force-confdef',
      '-o',
      'Dpkg::Options::=--force-confold',
      debianPackage,
    ]);
  });
}

/** Runs apt-get non-interactively, retrying while some other apt/dpkg (not one of ours) holds apt's lock. */
async function runApt(aptGet: string, args: string[]): Promise<void> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const result = await exec(aptGet, ['-q', '-o', 'DPkg::Lock::Timeout=120', ...args]);
    if (result.code === 0) return;
    if (!APT_LOCK_BUSY.test(result.output) || Date.now() >= deadline) {
      throw new Error(
        `apt-get ${args.join(' ')} exited with ${result.code}: ${result.output.slice(-2000).trim()}`,
      );
    }
    await delay(2_000);
  }
}

function exec(file: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'a' },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        // A non-numeric code means apt-get could not even be run (ENOENT, killed): its message explains why.
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, output: `${stdout}${stderr}${code === -1 && error ? `\n${error.message}` : ''}` });
      },
    );
  });
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
