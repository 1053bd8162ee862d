// amqplib's own broker-facing tests (from its npm tarball, fetched at test time by
// tooling/scripts/amqplib-suite.mjs) against our broker. Every test must pass except the named ones below;
// a known failure that starts passing fails this test too, so the list can only shrink.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../../tooling/scripts/amqplib-suite.mjs', import.meta.url));

/** Tests of amqplib@2.0.1 that fail against our broker, keyed `file :: suite > test`, with the reason. */
const KNOWN_FAILURES: Readonly<Record<string, string>> = {};

/** Tests in the three files (35 + 28 + 12); fewer results mean a file stopped early. */
const TOTAL_TESTS = 75;

interface SuiteResult {
  pass: number;
  fail: number;
  pending: number;
  files: Record<string, { pass: number; fail: number; pending: number }>;
  failures: { file: string; name: string; error: string }[];
}

function runSuite(): Promise<{ code: number | null; result: SuiteResult | undefined; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = output.split('\n').find((l) => l.startsWith('AMQPLIB_SUITE_RESULT '));
      const result = line
        ? (JSON.parse(line.slice('AMQPLIB_SUITE_RESULT '.length)) as SuiteResult)
        : undefined;
      resolve({ code, result, output });
    });
  });
}

describe("amqplib@2.0.1's broker-facing tests against our broker", () => {
  it('pass, except the named known failures', { timeout: 300_000 }, async () => {
    const { code, result, output } = await runSuite();
    expect(result, output).toBeDefined();
    if (result === undefined) return;
    const failed = result.failures.map((f) => `${f.file} :: ${f.name}`);
    const unexpected = result.failures.filter((f) => !(`${f.file} :: ${f.name}` in KNOWN_FAILURES));
    expect(unexpected, 'tests that fail and are not known failures').toEqual([]);
    const nowPassing = Object.keys(KNOWN_FAILURES).filter((name) => !failed.includes(name));
    expect(nowPassing, 'known failures that pass now: remove them from KNOWN_FAILURES').toEqual([]);
    expect(result.pass + result.fail + result.pending, output).toBe(TOTAL_TESTS);
    expect(result.pass).toBeGreaterThanOrEqual(TOTAL_TESTS - Object.keys(KNOWN_FAILURES).length);
    expect(Object.keys(result.files)).toEqual([
      'channel_api.test.js',
      'callback_api.test.js',
      'connect.test.js',
    ]);
    expect(code).toBe(result.fail === 0 ? 0 : 1);
  });
});
