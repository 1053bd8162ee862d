/**
 * The proxy under benchmark, in its own process: `proxy-server.ts <dataDir> <workers>`; with
 * BENCH_DATABASE_URL set, on the PostgreSQL store of that database instead of `dataDir`; BENCH_DELIVERY_THREADS
 * sets `deliveryThreads` (default: the proxy's).
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
  ...(process.env.BENCH_DATABASE_URL
    ? { postgres: { connectionString: process.env.BENCH_DATABASE_URL, poolMax: 16 } }
    : {}),
});
await proxy.start();
process.stdout.write(`READY ${proxy.url}\n`);
process.on('SIGTERM', () => {
  proxy.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
