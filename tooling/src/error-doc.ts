import { readFileSync } from 'node:fs';

/**
 * The error codes listed in a package's `docs/errors.md`: the first column of its Markdown table,
 * written as inline code. Tests compare them with the package's exported code table, so the doc and the
 * code can never drift apart.
 */
export function readErrorDocCodes(docPath: string): string[] {
  const codes: string[] = [];
  for (const line of readFileSync(docPath, 'utf8').split('\n')) {
    const m = /^\|\s*`([A-Z0-9_]+)`\s*\|/.exec(line);
    if (m?.[1]) codes.push(m[1]);
  }
  return codes;
}
