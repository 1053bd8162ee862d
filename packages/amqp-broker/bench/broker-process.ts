/**
 * Our broker in its own process for the benchmark (so the load generator never shares its event loop),
 * on tooling's child harness. The first message is `{ port, adminPort }`. Commands: 'mark' resets the
 * event-loop delay histogram, 'stats' answers `{ stats: { loopP50Ms, loopP99Ms, loopMaxMs, rssMiB,
 * peakRssMiB } }`, 'stop' (or SIGTERM) closes the broker and exits, which also writes the CPU profile when
 * started with --cpu-prof. BENCH_ADMIN=1 also starts the management listener (`adminPort` in the first
 * message). BENCH_BROKER_OPTIONS (JSON) adds broker options; a JSON argument (the orchestrator's, e.g.
 * `persistDir`) adds more on top.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { serveParent } from '@dispatcher/tooling/child-harness';
import { AdminServer } from '../src/admin/index.js';
import { BrokerServer, type BrokerServerOptions } from '../src/index.js';

export interface BrokerProcessStats {
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
  rssMiB: number;
  /** The process's peak resident set size since it started (getrusage maxrss, as /proc VmHWM). */
  peakRssMiB: number;
}

// BENCH_BROKER_OPTIONS: extra BrokerServerOptions as JSON (e.g. '{"queueFlowHighWaterMessages":0}').
const extra = JSON.parse(process.env.BENCH_BROKER_OPTIONS ?? '{}') as BrokerServerOptions;
const fromParent = JSON.parse(process.argv[2] ?? '{}') as BrokerServerOptions;
const broker = new BrokerServer({ ...extra, ...fromParent, port: 0, host: '127.0.0.1' });
const loop = monitorEventLoopDelay({ resolution: 1 });
// BENCH_ADMIN=1: the management listener too (the overhead comparison), on a free port.
const admin = process.env.BENCH_ADMIN === '1' ? new AdminServer({ broker, port: 0 }) : undefined;

await serveParent({
  start: async () => {
    await broker.start();
    loop.enable();
    await admin?.start();
    return { port: broker.port, adminPort: admin?.port };
  },
  stop: () => Promise.all([broker.close(), admin?.close()]),
  commands: {
    mark: () => {
      loop.reset();
      return undefined;
    },
    stats: (): { stats: BrokerProcessStats } => ({
      stats: {
        loopP50Ms: loop.percentile(50) / 1e6,
        loopP99Ms: loop.percentile(99) / 1e6,
        loopMaxMs: loop.max / 1e6,
        rssMiB: process.memoryUsage.rss() / 2 ** 20,
        peakRssMiB: process.resourceUsage().maxRSS / 2 ** 10,
      },
    }),
  },
});
