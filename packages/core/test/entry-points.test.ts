/**
 * `@dispatcher/core` must never load undici: the broker and the task library import it, and only
 * `@dispatcher/core/http` (outbound delivery) may. Checked twice: on the source import graph, and at run
 * time in a child process that imports the built package by name and lists the CommonJS modules loaded
 * (undici is CommonJS, so loading it, even from ESM, puts it in the require cache).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Every module reachable from `entry` through static and dynamic imports; bare specifiers as given. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    // Type-only imports vanish from the emitted JavaScript, so they cannot load anything.
    for (const m of source.matchAll(
      /(?:^|\n)\s*(?:import|export)(?!\s+type\b)[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g,
    )) {
      const specifier = (m[1] ?? m[2]) as string;
      if (specifier.startsWith('.')) pending.push(join(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else packages.add(specifier);
    }
  }
  return { files, packages };
}

/** The CommonJS modules a fresh Node process has loaded after importing `specifier` (by package name). */
function loadedCommonJs(specifier: string): string[] {
  const script = `
    await import(${JSON.stringify(specifier)});
    const { createRequire } = await import('node:module');
    process.stdout.write(JSON.stringify(Object.keys(createRequire(process.cwd() + '/').cache)));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return JSON.parse(out) as string[];
}

describe('the main entry', () => {
  it('imports nothing from src/http and no undici (source graph)', () => {
    const { files, packages } = importGraph(join(ROOT, 'src/index.ts'));
    expect(files.size).toBeGreaterThan(10);
    expect([...files].filter((file) => file.includes('/src/http/'))).toEqual([]);
    expect([...packages].filter((name) => name === 'undici' || name.startsWith('undici/'))).toEqual([]);
  });

  it('does not load undici when imported by name (built package, fresh process)', () => {
    expect(loadedCommonJs('@dispatcher/core').filter((file) => file.includes('undici'))).toEqual([]);
  });
});

describe('the admin access check (main entry)', () => {
  it('is framework-free: it imports Node built-ins only (no fastify, no undici)', () => {
    const { files, packages } = importGraph(join(ROOT, 'src/admin-access/admin-access.ts'));
    expect(files.size).toBeGreaterThanOrEqual(2);
    expect([...packages].filter((name) => !name.startsWith('node:'))).toEqual([]);
  });
});

describe('@dispatcher/core/http', () => {
  it('reaches undici through the source graph (the check above can fail)', () => {
    const { packages } = importGraph(join(ROOT, 'src/http/index.ts'));
    expect(packages.has('undici')).toBe(true);
  });

  it('loads undici when imported by name', () => {
    expect(loadedCommonJs('@dispatcher/core/http').some((file) => file.includes('undici'))).toBe(true);
  });

  it('is declared in the exports map with types and default', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
    };
    expect(pkg.exports['./http']).toEqual({
      types: './dist/http/index.d.ts',
      default: './dist/http/index.js',
    });
  });
});
