/**
 * The proxy under benchmark, in its own process: `proxy-server.ts <dataDir> <workers>`; with
 * BENCH_DATABASE_URL set, on the PostgreSQL store of that database instead of `dataDir`; BENCH_DELIVERY_THREADS
 * sets `deliveryThreads` (default: the proxy's); BENCH_PREALLOCATE sets `preallocateBytes`, BENCH_SYNC_METHOD `syncMethod`; BENCH_FSYNC_DELAY_MS
 * sets the batch policy's `maxDelayMs` (0 = write each batch at once). On SIGTERM it prints the log's group-commit latency.
 */
import { HttpProxy } from '../src/http-proxy.js';

const [dataDir, workers] = process.argv.slice(2);
const proxy = new HttpProxy({
  dataDir: dataDir as string,
  host: '127.0.0.1',
  port: 0,
  allowedDestinations: ['127.0.0.1'],
  workers: Number(workers ?? 64),
  perDestinationConcurrency: Number(workers ?? 64),
  maxBacklog: 10_000_000,
  minFreeDiskBytes: 0,
  ...(process.env.BENCH_DELIVERY_THREADS
    ? { deliveryThreads: Number(process.env.BENCH_DELIVERY_THREADS) }
    : {}),
  ...(process.env.BENCH_SYNC_METHOD === 'fdatasync' || process.env.BENCH_SYNC_METHOD === 'dsync'
    ? { syncMethod: process.env.BENCH_SYNC_METHOD }
    : {}),
  ...(process.env.BENCH_PREALLOCATE ? { preallocateBytes: Number(process.env.BENCH_PREALLOCATE) } : {}),
  ...(process.env.BENCH_FSYNC_DELAY_MS
    ? { fsync: { mode: 'batch' as const, maxDelayMs: Number(process.env.BENCH_FSYNC_DELAY_MS) } }
    : {}),
  ...(process.env.BENCH_DATABASE_URL
    ? { postgres: { connectionString: process.env.BENCH_DATABASE_URL, poolMax: 16 } }
    : {}),
});
await proxy.start();
process.stdout.write(`READY ${proxy.url}\n`);
process.on('SIGTERM', () => {
  // The transaction log's group-commit latency over its last batches, for the bench's report.
  if (!process.env.BENCH_DATABASE_URL) {
    const c = proxy.store.main.stats().commitLatency;
    const ms = (n: number) => n.toFixed(2);
    process.stderr.write(
      `commit:   ${c.count} recent group commits (write + sync) p50 ${ms(c.p50Ms)} ms, p90 ${ms(c.p90Ms)} ms, p99 ${ms(c.p99Ms)} ms, max ${ms(c.maxMs)} ms\n`,
    );
  }
  proxy.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
