#!/usr/bin/env node
// Runs the broker-facing tests shipped in amqplib's npm tarball (test/channel_api.test.js,
// test/callback_api.test.js, test/connect.test.js) against our broker, or against any broker given with
// --url. amqplib's code is fetched at run time with `npm pack` (cached under os.tmpdir() by version) and
// never committed. Run after `pnpm build`: our broker is imported from packages/amqp-broker/dist.
//
//   node tooling/scripts/amqplib-suite.mjs                      # our broker, in-process, on a free port
//   node tooling/scripts/amqplib-suite.mjs --url amqp://guest:guest@127.0.0.1:5672   # e.g. RabbitMQ
//   options: --version 2.0.1  --timeout-ms 5000 (per test and hook)  --file connect.test.js (repeatable)
//
// How the tests are pointed at the broker: channel_api.test.js reads the URL variable. connect.test.js and
// callback_api.test.js hard-code amqp://localhost and amqp://[::1] (port 5672), so a preloaded hook
// (--require) rewrites TCP connections to port 5672 on localhost/127.0.0.1/::1 into connections to the
// broker's port, keeping the host (the IPv6 test still uses IPv6). No test file is modified. Connections
// to any other port (the tests' own fake servers) are left alone. The same hook gives each test and hook
// a timeout (--timeout-ms), so a hang fails that test only.
//
// Prints every failing test with its error, the counts per file and in total, and a last line
// `AMQPLIB_SUITE_RESULT <json>` for tools; exits 1 when any test failed.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const DEFAULT_FILES = ['channel_api.test.js', 'callback_api.test.js', 'connect.test.js'];
const AMQP_DEFAULT_PORT = 5672;
const FILE_DEADLINE_MS = 5 * 60_000;

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    version: { type: 'string', default: '2.0.1' },
    'timeout-ms': { type: 'string', default: '5000' },
    file: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  process.stdout.write(
    readFileSync(new URL(import.meta.url), 'utf8')
      .split('\n')
      .slice(1, 18)
      .join('\n'),
  );
  process.stdout.write('\n');
  process.exit(0);
}
const files = args.file ?? DEFAULT_FILES;
const root = resolve(import.meta.dirname, '..', '..');

function log(message) {
  process.stderr.write(`amqplib-suite: ${message}\n`);
}

/** Downloads and unpacks amqplib@version once; later runs reuse the directory. */
function fetchAmqplib(version) {
  const cacheRoot = join(tmpdir(), 'dispatcher-amqplib-suite');
  const dir = join(cacheRoot, version);
  if (existsSync(join(dir, '.ready'))) return dir;
  mkdirSync(cacheRoot, { recursive: true });
  const work = mkdtempSync(join(cacheRoot, `.${version}-`));
  try {
    log(`fetching amqplib@${version} with npm pack`);
    const out = execFileSync('npm', ['pack', `amqplib@${version}`, '--silent'], {
      cwd: work,
      encoding: 'utf8',
    });
    const tarball = out.trim().split('\n').at(-1);
    execFileSync('tar', ['-xzf', tarball], { cwd: work });
    const pkgDir = join(work, 'package');
    installTestDependencies(pkgDir);
    writeFileSync(join(pkgDir, '.ready'), `${new Date().toISOString()}\n`);
    try {
      renameSync(pkgDir, dir);
    } catch (err) {
      // A concurrent run got there first: use its copy.
      if (!existsSync(join(dir, '.ready'))) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return dir;
}

/** Installs (npm install --no-save) only the packages the selected test files and their helpers require. */
function installTestDependencies(pkgDir) {
  const seen = new Set();
  const needed = new Set();
  const visit = (file) => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const [, spec] of source.matchAll(/require\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      if (spec.startsWith('.')) {
        const target = resolve(file, '..', spec);
        // Only follow the test helpers: the library itself has no dependencies.
        if (target.startsWith(join(pkgDir, 'test'))) visit(target.endsWith('.js') ? target : `${target}.js`);
      } else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) {
        needed.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
      }
    }
  };
  for (const f of DEFAULT_FILES) visit(join(pkgDir, 'test', f));
  if (needed.size === 0) {
    log('the broker-facing test files need no packages beyond node:test');
    return;
  }
  const devDeps = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).devDependencies ?? {};
  const specs = [...needed].map((name) => (devDeps[name] ? `${name}@${devDeps[name]}` : name));
  log(`installing ${specs.join(' ')}`);
  execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', ...specs], {
    cwd: pkgDir,
    stdio: 'inherit',
  });
}

// Reporter for node:test: one JSON line per finished test, with its full "suite > test" name. One test file
// runs per process, so one buffer suffices (data.file is unreliable: the preload's wrappers are the callers).
const REPORTER = `
export default async function* reporter(source) {
  const pending = [];
  for await (const { type, data } of source) {
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    yield '.\\n'; // progress, for the runner's idle watchdog
    const isSuite = data.details?.type === 'suite';
    const error = data.details?.error;
    const cause = error?.cause ?? error;
    const status =
      type === 'test:fail' ? 'fail' : data.skip !== undefined ? 'skip' : data.todo !== undefined ? 'todo' : 'pass';
    // Suites finish after their tests: name the buffered tests below this level after it.
    if (isSuite) for (const p of pending) if (p.nesting > data.nesting && p.parents[data.nesting] === undefined) p.parents[data.nesting] = data.name;
    // A suite counts only when it failed by itself (a hook), not because a test in it failed.
    if (!isSuite || (status === 'fail' && error?.failureType !== 'subtestsFailed')) {
      pending.push({ name: data.name, nesting: data.nesting, parents: [], status,
        error: status === 'fail' ? String(cause?.message ?? cause ?? 'failed') : undefined });
    }
    if (data.nesting === 0) {
      for (const p of pending) {
        const name = [...p.parents.filter(Boolean), p.name].join(' > ');
        yield JSON.stringify({ name, status: p.status, error: p.error }) + '\\n';
      }
      pending.length = 0;
    }
  }
}
`;

/**
 * Preloaded into the test process. 1) Sends amqp://localhost (port 5672) to the broker under test.
 * 2) Gives every test and hook a timeout (node:test has none by default, and --test-timeout only bounds
 * whole files under --test), so one hanging test fails by itself instead of silencing the rest.
 */
const PRELOAD = `
const net = require('node:net');
const test = require('node:test');
const port = Number(process.env.AMQPLIB_SUITE_PORT);
const timeout = Number(process.env.AMQPLIB_SUITE_TIMEOUT_MS);
const loopback = new Set([undefined, 'localhost', '127.0.0.1', '::1', '[::1]']);
function redirect(args) {
  const [first] = args;
  if (first && typeof first === 'object' && Number(first.port ?? ${AMQP_DEFAULT_PORT}) === ${AMQP_DEFAULT_PORT} && loopback.has(first.host)) {
    return [{ ...first, port }, ...args.slice(1)];
  }
  return args;
}
if (port && port !== ${AMQP_DEFAULT_PORT}) {
  const connect = net.connect;
  net.connect = net.createConnection = function (...args) { return connect.apply(this, redirect(args)); };
}
const withTimeout = (original) => function (...args) {
  const at = args.findIndex((a) => typeof a === 'function');
  const fn = at === -1 ? undefined : args[at];
  let name;
  let options;
  for (const a of at === -1 ? args : args.slice(0, at)) {
    if (typeof a === 'string') name = a;
    else if (a && typeof a === 'object') options = a;
  }
  const o = { timeout, ...options };
  return name === undefined ? original.call(this, o, fn) : original.call(this, name, o, fn);
};
const hookWithTimeout = (original) => function (fn, options) { return original.call(this, fn, { timeout, ...options }); };
if (timeout > 0) {
  for (const k of ['it', 'test']) test[k] = withTimeout(test[k]);
  for (const k of ['before', 'after', 'beforeEach', 'afterEach']) test[k] = hookWithTimeout(test[k]);
}
`;

function runFile(pkgDir, file, url, port, timeoutMs) {
  return new Promise((resolvePromise, reject) => {
    const results = [];
    let stdoutRest = '';
    let stderr = '';
    const child = spawn(
      process.execPath,
      // In-process (no --test): one process per file, per-test timeouts from the preload.
      [
        '--require',
        join(pkgDir, '.dispatcher-preload.cjs'),
        `--test-reporter=${pathToFileURL(join(pkgDir, '.dispatcher-reporter.mjs')).href}`,
        join('test', file),
      ],
      {
        cwd: pkgDir,
        env: {
          ...process.env,
          URL: url,
          AMQPLIB_SUITE_PORT: String(port),
          AMQPLIB_SUITE_TIMEOUT_MS: String(timeoutMs),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    // Every test and hook has a timeout, so a test event arrives at least every 2 x timeoutMs while tests
    // run. Longer silence means the tests are over but open sockets keep the process alive (a test that
    // failed without closing its connection): stop it; the results are already in.
    const idleMs = 3 * timeoutMs + 2_000;
    let idle;
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        log(`${file}: no test activity for ${idleMs} ms, stopping the test process`);
        child.kill('SIGKILL');
      }, idleMs);
    };
    armIdle();
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      armIdle();
      const lines = (stdoutRest + chunk).split('\n');
      stdoutRest = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('{')) results.push(JSON.parse(line));
        else if (line.trim() && line !== '.') process.stderr.write(`  [${file}] ${line}\n`);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    // Last resort if the test process itself never ends.
    const watchdog = setTimeout(() => {
      log(`${file}: still running after ${FILE_DEADLINE_MS} ms, killing it`);
      child.kill('SIGKILL');
    }, FILE_DEADLINE_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(watchdog);
      clearTimeout(idle);
      if (results.length === 0) {
        reject(new Error(`${file}: no test results (exit ${code})\n${stderr}`));
        return;
      }
      resolvePromise(results);
    });
  });
}

async function main() {
  const pkgDir = fetchAmqplib(args.version);
  writeFileSync(join(pkgDir, '.dispatcher-reporter.mjs'), REPORTER);
  writeFileSync(join(pkgDir, '.dispatcher-preload.cjs'), PRELOAD);

  let broker;
  let url = args.url;
  if (url === undefined) {
    const dist = join(root, 'packages', 'amqp-broker', 'dist', 'index.js');
    if (!existsSync(dist)) throw new Error(`${dist} is missing: run pnpm build first`);
    const { BrokerServer } = await import(pathToFileURL(dist).href);
    // '::' is dual-stack: the tests reach it as localhost, 127.0.0.1 and [::1].
    broker = new BrokerServer({ port: 0, host: '::' });
    await broker.start();
    url = `amqp://guest:guest@localhost:${broker.port}`;
  }
  const port = Number(new URL(url).port || AMQP_DEFAULT_PORT);
  const target = broker
    ? `our broker (in-process, port ${port})`
    : url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
  log(`amqplib@${args.version} broker-facing tests against ${target}`);

  const all = [];
  try {
    for (const file of files) {
      const results = await runFile(pkgDir, file, url, port, Number(args['timeout-ms']));
      all.push(...results.map((r) => ({ ...r, file })));
    }
  } finally {
    await broker?.close();
  }

  const count = (list, status) => list.filter((r) => r.status === status).length;
  const failed = all.filter((r) => r.status === 'fail');
  for (const r of failed)
    process.stdout.write(`FAIL ${r.file} :: ${r.name}\n     ${r.error?.split('\n')[0]}\n`);
  const summary = {
    amqplib: args.version,
    target: broker ? 'dispatcher' : target,
    files: Object.fromEntries(
      files.map((f) => {
        const list = all.filter((r) => r.file === f);
        return [
          f,
          {
            pass: count(list, 'pass'),
            fail: count(list, 'fail'),
            pending: count(list, 'skip') + count(list, 'todo'),
          },
        ];
      }),
    ),
    pass: count(all, 'pass'),
    fail: failed.length,
    pending: count(all, 'skip') + count(all, 'todo'),
    failures: failed.map((r) => ({ file: r.file, name: r.name, error: r.error })),
  };
  for (const [f, c] of Object.entries(summary.files)) {
    process.stdout.write(`${f.padEnd(22)} pass ${c.pass}  fail ${c.fail}  pending ${c.pending}\n`);
  }
  process.stdout.write(
    `${'total'.padEnd(22)} pass ${summary.pass}  fail ${summary.fail}  pending ${summary.pending}\n`,
  );
  process.stdout.write(`AMQPLIB_SUITE_RESULT ${JSON.stringify(summary)}\n`);
  return summary.fail === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(2);
  },
);
