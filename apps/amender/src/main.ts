#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BeanstalkPool, type KickReport, kickBuried } from '@dispatcher/push-gateway';
import { loadConfig } from './config.js';

const HELP = `Usage: amender -f <config.toml> [options]

Kicks buried jobs back to ready in the push gateway's tubes (the main tube, channel tubes and their
/FAIL retry tubes; never /DEAD dead-letter tubes) on every beanstalkd server in QueueServerAddr.

Options:
  -f, --config <file>   medispatcher TOML config (reads QueueServerAddr, NameOfMainQueue)
      --dry-run         only report what would be kicked
      --force           also kick tubes a running gateway is watching (skipped by default, as before)
      --json            print the report as JSON
      --timeout-ms <n>  per beanstalkd command, in milliseconds (default 5000)
  -h, --help            this text
  -v, --version         version and build info

Exit status: 0 done, 1 a server could not be read, 2 bad arguments or config.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return `amender ${pkg.version} (node ${process.version}, ${process.platform}/${process.arch})`;
}

function printReport(report: KickReport, dryRun: boolean): void {
  const rows = report.rows;
  if (rows.length === 0) console.log('no buried jobs in the gateway tubes');
  for (const r of rows) {
    const what =
      r.skipped === 'watched' ? 'skipped (watched; --force kicks it)' : dryRun ? 'would kick' : 'kicked';
    console.log(`${r.server}\t${r.tube}\tburied=${r.buried}\t${what}${r.skipped ? '' : `=${r.kicked}`}`);
  }
  const perTube = new Map<string, { buried: number; kicked: number }>();
  for (const r of rows) {
    const t = perTube.get(r.tube) ?? { buried: 0, kicked: 0 };
    t.buried += r.buried;
    t.kicked += r.kicked;
    perTube.set(r.tube, t);
  }
  if (perTube.size > 0) console.log('per tube:');
  for (const [tube, t] of perTube) console.log(`  ${tube}\tburied=${t.buried}\tkicked=${t.kicked}`);
  const buried = rows.reduce((n, r) => n + r.buried, 0);
  const kicked = rows.reduce((n, r) => n + r.kicked, 0);
  console.log(`total: tubes=${perTube.size} buried=${buried} kicked=${kicked}${dryRun ? ' (dry run)' : ''}`);
  for (const f of report.failedServers) console.error(`error: ${f.server}: ${f.error}`);
}

async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'f' },
        'dry-run': { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        'timeout-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
      allowPositionals: false,
      strict: true,
    });
  }
  try {
    args = parse();
  } catch (err) {
    console.error(`error: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const v = args.values;
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (v.version) {
    console.log(version());
    return 0;
  }
  if (!v.config) {
    console.error(`error: -f <config.toml> is required\n\n${HELP}`);
    return 2;
  }
  const timeout = v['timeout-ms'] === undefined ? 5_000 : Number(v['timeout-ms']);
  if (!Number.isInteger(timeout) || timeout <= 0) {
    console.error('error: --timeout-ms: a positive whole number of milliseconds is required');
    return 2;
  }
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig(v.config);
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    return 2;
  }
  const pool = new BeanstalkPool({
    addresses: config.servers,
    // A dead server must fail fast, not be retried for long: the report names it.
    client: { commandTimeoutMs: timeout, reconnectMaxDelayMs: 500 },
  });
  try {
    const report = await kickBuried(pool.clients, {
      mainTube: config.mainTube,
      dryRun: v['dry-run'],
      force: v.force,
    });
    if (v.json) console.log(JSON.stringify(report, null, 2));
    else printReport(report, v['dry-run']);
    return report.failedServers.length > 0 ? 1 : 0;
  } finally {
    await pool.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
