/**
 * docs/http-errors.md lists every `error` reason the proxy answers with, and its status; this test reads
 * both out of the source so neither can drift.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../src/', import.meta.url);
const DOC = readFileSync(new URL('../docs/http-errors.md', import.meta.url), 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** `status reason` pairs the source answers with. */
function sourcePairs(): Set<string> {
  const pairs = new Set<string>();
  for (const file of sourceFiles(SRC.pathname)) {
    const text = readFileSync(file, 'utf8');
    // fastify: reply.code(N)[.header(…)].send({ error: 'reason', …
    for (const m of text.matchAll(/\.code\(([^)]+)\)[\s\S]{0,160}?error: '([a-z_]+)'/g)) {
      pairs.add(`${/^\d+$/.test(m[1] as string) ? m[1] : '4xx'} ${m[2]}`);
    }
    // the lean ingest path: replyError(res, N, 'reason', …
    for (const m of text.matchAll(/replyError\(\s*res,\s*(\d+),\s*'([a-z_]+)'/g))
      pairs.add(`${m[1]} ${m[2]}`);
    // refusals built as data: { status: N, error: 'reason', … }
    for (const m of text.matchAll(/status: (\d+),\s*error: '([a-z_]+)'/g)) pairs.add(`${m[1]} ${m[2]}`);
    // control-header failures: the DispatchHeaderError union, all answered with the status ParseResult names
    const union = /export type DispatchHeaderError =([^;]+);/.exec(text);
    const status = /\{ ok: false; status: (\d+); error: DispatchHeaderError/.exec(text);
    if (union && status) {
      for (const m of (union[1] as string).matchAll(/'([a-z_]+)'/g)) pairs.add(`${status[1]} ${m[1]}`);
    }
  }
  return pairs;
}

function docPairs(): string[] {
  return [...DOC.matchAll(/^\| (\d{3}|4xx) \| `([a-z_]+)` \| .+ \|$/gm)].map((m) => `${m[1]} ${m[2]}`);
}

describe('docs/http-errors.md', () => {
  it('lists exactly the statuses and reasons the source answers with', () => {
    const source = sourcePairs();
    expect(source.size).toBeGreaterThan(20);
    const doc = docPairs();
    expect(new Set(doc).size).toBe(doc.length);
    expect([...doc].sort()).toEqual([...source].sort());
  });
});
