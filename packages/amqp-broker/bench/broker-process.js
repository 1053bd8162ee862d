/**
 * Our broker in its own process for the benchmark (so the load generator never shares its event loop),
 * on tooling's child harness: the first message is `{ port, adminPort }`. Commands: 'mark' resets the
 * event-loop delay histogram, 'stats' answers `{ stats: { loopP50Ms, loopP99Ms, loopMaxMs, rssMiB,
 * peakRssMiB } }`; 'stop' (or SIGTERM, or the parent going away) closes the broker and exits, which also
 * writes the CPU profile when started with --cpu-prof. BENCH_ADMIN=1 also starts
 * the management listener (`adminPort` in the first message). BENCH_BROKER_OPTIONS
 * (JSON) adds broker options; a JSON argument (the orchestrator's, e.g. `persistDir`) adds more on top.
 *
 * Plain JavaScript, run by Node without a loader: it loads the broker as built (`dist/`, what dispatchd
 * runs), so the process's RSS is the broker's. Run through tsx, the process also carried tsx's module-hooks
 * thread (a second V8 isolate) and its transform caches: ~35 MiB of RSS no deployment has. With
 * BENCH_BROKER_FROM=src it loads `src/` instead (the orchestrator then starts it with tsx).
 */
import { appendFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { serveParent } from '@dispatcher/tooling/child-harness';

const from = process.env.BENCH_BROKER_FROM === 'src' ? '../src' : '../dist';
const { BrokerServer } = await import(`${from}/index.js`);

// BENCH_BROKER_OPTIONS: extra BrokerServerOptions as JSON (e.g. '{"queueFlowHighWaterMessages":0}').
const extra = JSON.parse(process.env.BENCH_BROKER_OPTIONS ?? '{}');
const fromParent = JSON.parse(process.argv[2] ?? '{}');
const broker = new BrokerServer({ ...extra, ...fromParent, port: 0, host: '127.0.0.1' });
const loop = monitorEventLoopDelay({ resolution: 1 });
/** The management listener (BENCH_ADMIN=1), created on start. */
let admin;
// BENCH_MEM_TRACE=<file>: a JSON line of process.memoryUsage() (MiB) every 250 ms, to see where RSS goes.
const memTrace = process.env.BENCH_MEM_TRACE;
if (memTrace) {
  const t0 = Date.now();
  setInterval(() => {
    const m = process.memoryUsage();
    const mib = (n) => Math.round((n / 2 ** 20) * 10) / 10;
    const line = {
      t: Date.now() - t0,
      rss: mib(m.rss),
      heapTotal: mib(m.heapTotal),
      heapUsed: mib(m.heapUsed),
    };
    appendFileSync(
      memTrace,
      `${JSON.stringify({ ...line, external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) })}\n`,
    );
  }, 250).unref();
}
// BENCH_HEAP_PROF=<file>: sampled allocations (garbage included) from the first 'stats' request (in (g):
// the end of the publish phase) until stop, written at stop as a .heapprofile: who allocates in a drain.
const heapProf = process.env.BENCH_HEAP_PROF;
const session = heapProf ? new Session() : undefined;
let sampling;
const startHeapSampling = () => {
  if (session === undefined || sampling !== undefined) return;
  session.connect();
  sampling = session.post('HeapProfiler.startSampling', {
    samplingInterval: 32 * 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
};
const stop = () => {
  const profiled =
    session && sampling
      ? sampling
          .then(() => session.post('HeapProfiler.stopSampling'))
          .then((r) => appendFileSync(heapProf, JSON.stringify(r.profile)))
      : Promise.resolve();
  return Promise.all([profiled, broker.close(), admin?.close()]);
};
await serveParent({
  start: async () => {
    await broker.start();
    loop.enable();
    // BENCH_ADMIN=1: the management listener too (the overhead comparison), on a free port.
    // Loaded only then: fastify and the page are not part of a plain broker's memory.
    if (process.env.BENCH_ADMIN === '1') {
      admin = new (await import(`${from}/admin/index.js`)).AdminServer({ broker, port: 0 });
      await admin.start();
    }
    return { port: broker.port, adminPort: admin?.port };
  },
  stop,
  commands: {
    mark: () => {
      loop.reset();
    },
    stats: () => {
      startHeapSampling();
      /** @type {import('./broker.bench.js').BrokerProcessStats} */
      const stats = {
        loopP50Ms: loop.percentile(50) / 1e6,
        loopP99Ms: loop.percentile(99) / 1e6,
        loopMaxMs: loop.max / 1e6,
        rssMiB: process.memoryUsage.rss() / 2 ** 20,
        peakRssMiB: process.resourceUsage().maxRSS / 2 ** 10,
      };
      return { stats };
    },
  },
});
