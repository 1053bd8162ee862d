import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureBinary, findBinary, MissingBinaryError } from '../src/ensure-binary.js';

describe('ensureBinary', () => {
  it('finds installed binaries, including ones in sbin directories', async () => {
    expect(await ensureBinary('redis-server')).toMatch(/\/redis-server$/);
    expect(await findBinary('sh')).toMatch(/^\/.*\/sh$/);
    expect(await findBinary('/bin/sh')).toBe('/bin/sh');
  });

  it('names the Debian package to install when a binary is missing and installing is disabled', async () => {
    const error = await ensureBinary('dispatcher-no-such-daemon', {
      debianPackage: 'dispatcher-no-such-package',
      install: false,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MissingBinaryError);
    expect((error as MissingBinaryError).message).toBe(
      'dispatcher-no-such-daemon not found: install the Debian package "dispatcher-no-such-package" ' +
        '(apt-get install dispatcher-no-such-package)',
    );
    expect((error as MissingBinaryError).debianPackage).toBe('dispatcher-no-such-package');
  });

  it('defaults the package name to the binary name', async () => {
    await expect(ensureBinary('dispatcher-no-such-daemon', { install: false })).rejects.toThrow(
      'install the Debian package "dispatcher-no-such-daemon"',
    );
  });

  it('returns undefined from findBinary for missing or non-executable paths', async () => {
    expect(await findBinary('dispatcher-no-such-daemon')).toBeUndefined();
    expect(await findBinary('/usr/bin')).toBeUndefined();
    const dir = await mkdtemp(join(tmpdir(), 'tooling-find-binary-'));
    try {
      const file = join(dir, 'not-executable');
      await writeFile(file, '#!/bin/sh\n', { mode: 0o644 });
      expect(await findBinary(file)).toBeUndefined();
      await chmod(file, 0o755);
      expect(await findBinary(file)).toBe(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
