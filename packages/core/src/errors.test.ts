import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DispatcherError } from './dispatcher-error.js';
import { CoreError, CoreErrorCodes } from './errors.js';

const DOC = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const SOURCE = readFileSync(new URL('./errors.ts', import.meta.url), 'utf8');

/** The `| \`CODE\` | meaning |` rows of the doc's table (same row format `readErrorDocCodes` reads). */
function docRows(markdown: string): Array<{ code: string; meaning: string }> {
  const rows: Array<{ code: string; meaning: string }> = [];
  for (const line of markdown.split('\n')) {
    const m = /^\|\s*`([A-Z0-9_]+)`\s*\|\s*(.*?)\s*\|\s*$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) rows.push({ code: m[1], meaning: m[2] });
  }
  return rows;
}

/** The TSDoc comment above each key of `CoreErrorCodes` in errors.ts, whitespace collapsed. */
function tsdocMeanings(source: string): Map<string, string> {
  const meanings = new Map<string, string>();
  for (const m of source.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*([A-Z0-9_]+):/g)) {
    const text = (m[1] ?? '')
      .split('\n')
      .map((line) => line.replace(/^\s*\*?\s?/, ''))
      .join(' ')
      .replace(/\s+/g, ' ')
      .trim();
    meanings.set(m[2] as string, text);
  }
  return meanings;
}

describe('docs/errors.md', () => {
  const rows = docRows(DOC);

  it('has the shared title and table header', () => {
    const lines = DOC.split('\n');
    expect(lines[0]).toBe('# Error codes of @dispatcher/core');
    expect(lines).toContain('| code | meaning |');
    expect(lines).toContain('| --- | --- |');
  });

  it('lists exactly the codes of CoreErrorCodes, each once', () => {
    const codes = rows.map((r) => r.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect([...codes].sort()).toEqual(Object.keys(CoreErrorCodes).sort());
  });

  it('gives every code the meaning from its TSDoc comment', () => {
    const meanings = tsdocMeanings(SOURCE);
    expect([...meanings.keys()].sort()).toEqual(Object.keys(CoreErrorCodes).sort());
    for (const { code, meaning } of rows) {
      expect(meaning, code).not.toBe('');
      expect(meaning, code).toBe(meanings.get(code));
    }
  });
});

describe('CoreErrorCodes', () => {
  it('maps every key to itself', () => {
    for (const [key, value] of Object.entries(CoreErrorCodes)) expect(value).toBe(key);
  });

  it('uses the DSP_CORE_ prefix for every code', () => {
    for (const key of Object.keys(CoreErrorCodes)) expect(key).toMatch(/^DSP_CORE_[A-Z0-9_]+$/);
  });
});

describe('CoreError', () => {
  it('is a DispatcherError with its code, name, cause and details', () => {
    const cause = new Error('root');
    const err = new CoreError('DSP_CORE_LOG_CORRUPT', 'bad record', { cause, details: { seq: 7 } });
    expect(err).toBeInstanceOf(CoreError);
    expect(err).toBeInstanceOf(DispatcherError);
    expect(err).toBeInstanceOf(Error);
    expect(DispatcherError.isInstance(err)).toBe(true);
    expect(DispatcherError.hasCode(err, 'DSP_CORE_LOG_CORRUPT')).toBe(true);
    expect(err.name).toBe('CoreError');
    expect(err.message).toBe('bad record');
    expect(err.cause).toBe(cause);
    expect(err.details).toEqual({ seq: 7 });
    expect(String(err)).toBe('CoreError: bad record');
  });

  it('has no cause or details unless given', () => {
    const err = new CoreError('DSP_CORE_CLOSED', 'closed');
    expect('cause' in err).toBe(false);
    expect(err.details).toBeUndefined();
  });
});
