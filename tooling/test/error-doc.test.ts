import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkErrorDoc } from '../src/error-doc.js';

const SOURCE = `export const Codes = {
  /** The first failure. */
  X_ONE: 'X_ONE',
  /**
   * The second failure, described
   * over two lines.
   */
  X_TWO: 'X_TWO',
} as const;
`;
const DOC = `# Error codes of @x/pkg

| code | meaning |
| --- | --- |
| \`X_ONE\` | The first failure. |
| \`X_TWO\` | The second failure, described over two lines. |
`;
const CODES = { X_ONE: 'X_ONE', X_TWO: 'X_TWO' };

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function check(doc: string, source = SOURCE, codes: Record<string, string> = CODES): string[] {
  dir = mkdtempSync(join(tmpdir(), 'error-doc-'));
  writeFileSync(join(dir, 'errors.md'), doc);
  writeFileSync(join(dir, 'errors.ts'), source);
  return checkErrorDoc({
    docPath: join(dir, 'errors.md'),
    sourcePath: join(dir, 'errors.ts'),
    codes,
    packageName: '@x/pkg',
  });
}

describe('checkErrorDoc', () => {
  it('finds nothing when code table, TSDoc and doc agree', () => {
    expect(check(DOC)).toEqual([]);
  });

  it('reports a meaning that drifted from the TSDoc', () => {
    const problems = check(DOC.replace('The first failure.', 'Something else.'));
    expect(problems).toEqual(['X_ONE: doc says "Something else." but errors.ts says "The first failure."']);
  });

  it('reports codes missing on either side, duplicates and a wrong title', () => {
    const doc = DOC.replace('@x/pkg', '@x/other')
      .replace(/\| `X_TWO`.*\n/, '')
      .concat('| `X_ONE` | The first failure. |\n| `X_GONE` | Retired. |\n');
    expect(check(doc)).toEqual([
      'doc title must be "# Error codes of @x/pkg", is "# Error codes of @x/other"',
      'X_ONE: listed twice in the doc',
      'X_TWO: exported but missing from the doc',
      'X_GONE: in the doc but not exported',
    ]);
  });

  it('reports a code without TSDoc and a value that differs from its key', () => {
    const source = SOURCE.replace('  /** The first failure. */\n', '');
    expect(check(DOC, source, { X_ONE: 'X_1', X_TWO: 'X_TWO' })).toEqual([
      'X_ONE: exported value is "X_1", must equal its key',
      'X_ONE: no TSDoc comment in errors.ts',
    ]);
  });

  it('reports a retired code that is exported again', () => {
    const doc = `${DOC}\n## Retired codes\n\n- \`X_TWO\` (never raised; retired in 0.1.0)\n`;
    expect(check(doc)).toEqual(['X_TWO: retired, must never be exported again']);
    expect(
      check(doc.replace(/\| `X_TWO`.*\n/, ''), SOURCE.replace(/\/\*\*\n[\s\S]*X_TWO: 'X_TWO',\n/, ''), {
        X_ONE: 'X_ONE',
      }),
    ).toEqual([]);
  });
});
