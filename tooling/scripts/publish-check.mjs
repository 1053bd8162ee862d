#!/usr/bin/env node
// Dry-run publish check of every public package: publint on the package, `pnpm pack` into a tarball,
// install the tarballs into a scratch project with npm (as a user would), then import each package by
// name and check its named exports. Run after `pnpm build` (`pnpm publish:check` does both).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
// One export each package must have, proving that its entry point resolves to built code.
const expected = {
  '@dispatcher/core': ['DurableLog', 'exponentialBackoff', 'CoreErrorCodes', 'encodeMessage'],
  '@dispatcher/http-proxy': ['ProxyErrorCodes'],
  '@dispatcher/amqp-tasks': ['TasksErrorCodes'],
  '@dispatcher/amqp-broker': ['BrokerErrorCodes'],
  '@dispatcher/push-gateway': ['PushErrorCodes'],
};

const packages = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => !pkg.private);

const scratch = mkdtempSync(join(tmpdir(), 'dsp-publish-check-'));
let failures = 0;
try {
  const tarballs = [];
  for (const { dir, pkg } of packages) {
    try {
      execFileSync('npx', ['publint', '--strict', dir], { stdio: 'pipe', cwd: root });
      console.log(`publint ok        ${pkg.name}`);
    } catch (err) {
      failures++;
      console.error(`publint FAILED    ${pkg.name}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    }
    const out = execFileSync('pnpm', ['pack', '--pack-destination', scratch], { cwd: dir, encoding: 'utf8' });
    const tarball = out.trim().split('\n').at(-1);
    tarballs.push(tarball);
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    const bad = files.filter((f) => /\.test\.(js|ts|d\.ts)$|node_modules|\.tsbuildinfo$/.test(f));
    if (
      !files.includes('package/dist/index.js') ||
      !files.includes('package/dist/index.d.ts') ||
      bad.length
    ) {
      failures++;
      console.error(`pack FAILED       ${pkg.name}: dist entry missing or unwanted files: ${bad.join(', ')}`);
    } else {
      console.log(`pack ok           ${pkg.name} (${files.filter(Boolean).length} files)`);
    }
  }
  const app = join(scratch, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'scratch', private: true, type: 'module' }),
  );
  try {
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], {
      cwd: app,
      stdio: 'pipe',
    });
  } catch (err) {
    // What a user installing the tarballs with npm would see (e.g. a dependency needing a newer Node).
    console.error(`npm install of the tarballs FAILED:\n${err.stderr?.toString() ?? err.message}`);
    process.exit(1);
  }
  for (const [name, exports] of Object.entries(expected)) {
    const code = `const m = await import(${JSON.stringify(name)}); const missing = ${JSON.stringify(exports)}.filter((e) => !(e in m)); if (missing.length) { console.error('missing exports: ' + missing); process.exit(1); }`;
    try {
      execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: app, stdio: 'pipe' });
      console.log(`import ok         ${name}`);
    } catch (err) {
      failures++;
      console.error(`import FAILED     ${name}: ${err.stderr ?? err.message}`);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
if (failures > 0) {
  console.error(`publish check: ${failures} problem(s)`);
  process.exit(1);
}
console.log('publish check: every public package packs, passes publint and imports from its tarball');
