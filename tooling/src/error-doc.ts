import { readFileSync } from 'node:fs';

/** One `| \`CODE\` | meaning |` row of a package's `docs/errors.md`. */
export interface ErrorDocRow {
  readonly code: string;
  readonly meaning: string;
}

const ROW = /^\|\s*`([A-Z0-9_]+)`\s*\|\s*(.*?)\s*\|\s*$/;

/** The rows of a `docs/errors.md` table, in document order. */
export function readErrorDocRows(markdown: string): ErrorDocRow[] {
  const rows: ErrorDocRow[] = [];
  for (const line of markdown.split('\n')) {
    const m = ROW.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) rows.push({ code: m[1], meaning: m[2] });
  }
  return rows;
}

/**
 * The codes listed under a `## Retired codes` heading as `- \`CODE\` …` bullets: codes that were never raised
 * or were removed, kept in the doc so nobody gives the name a new meaning.
 */
export function readRetiredErrorCodes(markdown: string): string[] {
  const retired: string[] = [];
  let inSection = false;
  for (const line of markdown.split('\n')) {
    if (/^##\s/.test(line)) inSection = /^##\s+Retired codes\s*$/.test(line);
    const m = inSection ? /^-\s+`([A-Z0-9_]+)`/.exec(line) : null;
    if (m?.[1] !== undefined) retired.push(m[1]);
  }
  return retired;
}

/**
 * The error codes listed in a package's `docs/errors.md`: the first column of its Markdown table,
 * written as inline code.
 */
export function readErrorDocCodes(docPath: string): string[] {
  return readErrorDocRows(readFileSync(docPath, 'utf8')).map((r) => r.code);
}

/**
 * The TSDoc comment above each key of the code table in an `errors.ts` source, whitespace collapsed.
 * Only `/** … *\/` comments directly followed by `CODE:` count, so prose elsewhere in the file is ignored.
 */
export function readErrorSourceMeanings(source: string): Map<string, string> {
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

/** What {@link checkErrorDoc} compares. */
export interface CheckErrorDocOptions {
  /** Path of the package's `docs/errors.md`. */
  readonly docPath: string;
  /** Path of the package's `src/errors.ts` (its TSDoc comments hold the meanings). */
  readonly sourcePath: string;
  /** The exported code table (`{ CODE: 'CODE', … }`). */
  readonly codes: Readonly<Record<string, string>>;
  /** The npm name, for the doc's title line `# Error codes of <name>`. */
  readonly packageName: string;
}

/**
 * Compares a package's error contract in three places — the exported code table, the TSDoc comment of each
 * code in `errors.ts`, and the `docs/errors.md` table (plus its list of retired codes, never to be reused) — and returns one line per disagreement (empty when
 * they agree). Shared by every package's `errors.test.ts` so the docs cannot drift from the code
 * (fastify's `test/internals/errors.test.js` does the same for its registry).
 */
export function checkErrorDoc(options: CheckErrorDocOptions): string[] {
  const doc = readFileSync(options.docPath, 'utf8');
  const source = readFileSync(options.sourcePath, 'utf8');
  const problems: string[] = [];
  const lines = doc.split('\n');
  if (lines[0] !== `# Error codes of ${options.packageName}`) {
    problems.push(`doc title must be "# Error codes of ${options.packageName}", is "${lines[0]}"`);
  }
  if (!lines.includes('| code | meaning |') || !lines.includes('| --- | --- |')) {
    problems.push('doc must have the table header "| code | meaning |" / "| --- | --- |"');
  }
  for (const [key, value] of Object.entries(options.codes)) {
    if (key !== value) problems.push(`${key}: exported value is "${value}", must equal its key`);
  }
  const rows = readErrorDocRows(doc);
  const seen = new Set<string>();
  for (const { code } of rows) {
    if (seen.has(code)) problems.push(`${code}: listed twice in the doc`);
    seen.add(code);
  }
  const exported = new Set(Object.keys(options.codes));
  for (const code of exported)
    if (!seen.has(code)) problems.push(`${code}: exported but missing from the doc`);
  for (const code of seen) if (!exported.has(code)) problems.push(`${code}: in the doc but not exported`);
  for (const code of readRetiredErrorCodes(doc)) {
    if (exported.has(code)) problems.push(`${code}: retired, must never be exported again`);
  }
  const meanings = readErrorSourceMeanings(source);
  for (const code of exported) {
    if (!meanings.has(code)) problems.push(`${code}: no TSDoc comment in errors.ts`);
  }
  for (const { code, meaning } of rows) {
    const fromSource = meanings.get(code);
    if (meaning === '') problems.push(`${code}: empty meaning in the doc`);
    else if (fromSource !== undefined && fromSource !== meaning) {
      problems.push(`${code}: doc says "${meaning}" but errors.ts says "${fromSource}"`);
    }
  }
  return problems;
}
