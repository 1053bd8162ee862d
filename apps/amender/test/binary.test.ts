import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BeanstalkPool, channelTube, deadLetterTube, retryTube } from '@dispatcher/push-gateway';
import { type BeanstalkdService, getFreePort, startBeanstalkd } from '@dispatcher/tooling';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'dsp-amender-'));

function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', main, ...args]);
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => {
    out += d;
  });
  p.stderr.on('data', (d: Buffer) => {
    err += d;
  });
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, out, err })));
}

function config(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

let a: BeanstalkdService;
let b: BeanstalkdService;
let pool: BeanstalkPool;
const MAIN = 'event_center_messages';
const ch = channelTube('order.paid', 3);
const fail = retryTube('order.paid', 3);
const dead = deadLetterTube('order.paid', 3);

/** Puts `n` jobs into `tube` on one server and buries them. */
async function buryOn(address: string, tube: string, n: number): Promise<void> {
  const r = pool.createReserveClient(address);
  await r.watch(tube);
  await r.ignore('default');
  for (let i = 0; i < n; i++) {
    await pool.put(tube, Buffer.from(`${tube}-${i}`), { preferAddress: address });
    const job = await r.reserve(5);
    if (!job) throw new Error('no job to bury');
    await r.bury(job.id);
  }
  await pool.release(r);
}

async function buried(tube: string): Promise<number> {
  return pool.tubeCount(tube, 'current-jobs-buried');
}

beforeAll(async () => {
  // Both servers start at once: each binary run below already takes seconds on a busy machine.
  [a, b] = await Promise.all([startBeanstalkd(), startBeanstalkd()]);
  pool = new BeanstalkPool({ addresses: [a, b].map((s) => `127.0.0.1:${s.port}`) });
  await pool.connect();
});
afterAll(async () => {
  await pool.close();
  await Promise.all([a.stop(), b.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('amender binary (two real beanstalkd servers)', () => {
  it('--help, --version and usage errors', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: amender -f <config.toml>');
    const version = await run(['--version']);
    expect(version.code).toBe(0);
    expect(version.out).toMatch(/^amender \d+\.\d+\.\d+ \(node v20\./);
    expect((await run([])).code).toBe(2);
    expect((await run(['-f', join(dir, 'missing.toml')])).err).toContain('cannot read');
    const bad = await run(['-f', config('bad.toml', 'NameOfMainQueue = "x"\n')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('QueueServerAddr');
    expect((await run(['--bogus'])).code).toBe(2);
  });

  it('--dry-run reports per tube and kicks nothing; a run kicks every gateway tube on every server', async () => {
    const A = `127.0.0.1:${a.port}`;
    const B = `127.0.0.1:${b.port}`;
    await buryOn(A, MAIN, 3);
    await buryOn(B, MAIN, 2);
    await buryOn(A, ch, 4);
    await buryOn(B, fail, 1);
    await buryOn(A, dead, 2);
    await buryOn(B, 'someone-elses-tube', 2);
    const file = config(
      'medispatcher.toml',
      `# medispatcher config\nQueueServerAddr = "${A}, ${B}"\nNameOfMainQueue = "${MAIN}"\nListenAddr = "0.0.0.0:5601"\n\n[Database]\nHost = "x"\n`,
    );

    const dry = await run(['-f', file, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`${MAIN}\tburied=5\tkicked=0`);
    expect(dry.out).toContain('total: tubes=3 buried=10 kicked=0 (dry run)');
    expect(dry.out).not.toContain(dead);
    expect(dry.out).not.toContain('someone-elses-tube');
    expect(await buried(MAIN)).toBe(5);

    const real = await run(['-f', file, '--json']);
    expect(real.code).toBe(0);
    const report = JSON.parse(real.out) as { rows: { server: string; tube: string; kicked: number }[] };
    expect(report.rows.map((r) => [r.server, r.tube, r.kicked]).sort()).toEqual(
      [
        [A, MAIN, 3],
        [B, MAIN, 2],
        [A, ch, 4],
        [B, fail, 1],
      ].sort(),
    );
    expect(await buried(MAIN)).toBe(0);
    expect(await buried(ch)).toBe(0);
    expect(await buried(fail)).toBe(0);
    expect(await pool.tubeCount(MAIN, 'current-jobs-ready')).toBe(5);
    // Dead letters and foreign tubes are left alone.
    expect(await buried(dead)).toBe(2);
    expect(await buried('someone-elses-tube')).toBe(2);
  });

  it('skips a tube a running gateway watches unless --force, and reports an unreachable server with exit 1', async () => {
    const A = `127.0.0.1:${a.port}`;
    const tube = channelTube('user.created', 8);
    await buryOn(A, tube, 2);
    const watcher = pool.createReserveClient(A);
    await watcher.watch(tube);
    const deadPort = await getFreePort('127.0.0.1');
    const file = config(
      'two.toml',
      `QueueServerAddr = "${A},127.0.0.1:${deadPort}"\nNameOfMainQueue = "${MAIN}"\n`,
    );
    const skipped = await run(['-f', file, '--timeout-ms', '1000']);
    expect(skipped.code).toBe(1);
    expect(skipped.out).toContain(`${tube}\tburied=2\tskipped (watched`);
    expect(skipped.err).toContain(`error: 127.0.0.1:${deadPort}`);
    expect(await buried(tube)).toBe(2);
    const forced = await run(['-f', file, '--force', '--timeout-ms', '1000']);
    expect(forced.out).toContain(`${tube}\tburied=2\tkicked=2`);
    expect(await buried(tube)).toBe(0);
    await pool.release(watcher);
  });
});
