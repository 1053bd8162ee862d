/**
 * Idle connections: RSS of our broker (built `dist/`, a fresh process) and of the machine's RabbitMQ
 * (`beam.smp`, read from /proc) before and after a separate client process opens N connections with one
 * channel each and leaves them idle. The durability issue's target: 1,000 idle connections ≤ 100 MB RSS.
 *
 * BENCH_IDLE_CONNECTIONS (default 1000); BENCH_IDLE_RABBIT_CONNECTIONS (default 500: a stock RabbitMQ here
 * allows ~830 sockets, so the peer is compared per connection); RABBITMQ_URL (default
 * amqp://guest:guest@127.0.0.1:5672; unreachable or no readable beam.smp → our broker only).
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type ForkedChild, forkChild } from '@dispatcher/tooling/child-harness';

const N = Number(process.env.BENCH_IDLE_CONNECTIONS ?? 1000);
const RABBIT_N = Number(process.env.BENCH_IDLE_RABBIT_CONNECTIONS ?? 500);
const rabbitUrl = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return (kb * 1024) / 1e6;
}

function beamPid(): number | undefined {
  try {
    const out = execFileSync('pgrep', ['-o', 'beam.smp'], { encoding: 'utf8' }).trim();
    return out === '' ? undefined : Number(out);
  } catch {
    return undefined;
  }
}

/** A separate process holding `n` connections (one channel each) to `url` until told to stop. */
function holdConnections(url: string, n: number): Promise<ForkedChild<{ opened: number }>> {
  return forkChild(fileURLToPath(new URL('./idle-connections-client.ts', import.meta.url)), {
    args: [url, String(n)],
  });
}

/** RSS settles once the connections are open: the highest of three readings a second apart. */
async function settledRss(pid: number): Promise<number> {
  let max = 0;
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    max = Math.max(max, await rssMb(pid));
  }
  return max;
}

async function measure(
  name: string,
  url: string,
  pid: number,
  n: number,
): Promise<{ before: number; after: number; n: number }> {
  const before = await settledRss(pid);
  const holder = await holdConnections(url, n);
  const after = await settledRss(pid);
  await holder.stop();
  console.log(
    `  ${name.padEnd(8)} RSS ${before.toFixed(1)} MB before, ${after.toFixed(1)} MB with ${n} idle connections (+${(((after - before) * 1000) / n).toFixed(1)} kB each)`,
  );
  return { before, after, n };
}

const broker = await forkChild<{ port: number }>(
  fileURLToPath(new URL('./broker-process.js', import.meta.url)),
  {
    args: ['{}'],
    // Plain node on the built package: no tsx in the broker's RSS.
    execArgv: [],
  },
);
console.log(
  `idle connections bench: ${N} connections with one channel each, opened by a separate client process; RSS from /proc`,
);
try {
  const ours = await measure(
    'ours',
    `amqp://guest:guest@127.0.0.1:${broker.ready.port}`,
    broker.child.pid!,
    N,
  );
  const beam = beamPid();
  let rabbit: { before: number; after: number; n: number } | undefined;
  if (beam !== undefined) {
    try {
      rabbit = await measure('RabbitMQ', rabbitUrl, beam, RABBIT_N);
    } catch (err) {
      console.log(`  RabbitMQ skipped: ${(err as Error).message}`);
    }
  }
  const growth = (r: { before: number; after: number; n: number }) => (r.after - r.before) / r.n;
  if (rabbit)
    console.log(`  growth per connection ours / RabbitMQ: ${(growth(ours) / growth(rabbit)).toFixed(2)}×`);
  console.log(
    `  target: ${N} idle connections ≤ 100 MB RSS: ${ours.after <= 100 ? 'met' : 'MISSED'} (${ours.after.toFixed(1)} MB)`,
  );
} finally {
  await broker.stop(10_000);
}
