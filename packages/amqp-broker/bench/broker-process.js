/**
 * Our broker in its own process for the benchmark (so the load generator never shares its event loop).
 * Sends `{ port }` to the parent when listening. Commands: 'mark' resets the event-loop delay histogram,
 * 'stats' answers `{ loopP50Ms, loopP99Ms, loopMaxMs, rssMiB, peakRssMiB }`, 'stop' (or SIGTERM) closes the
 * broker and exits, which also writes the CPU profile when started with --cpu-prof. BENCH_ADMIN=1 also starts
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

const from = process.env.BENCH_BROKER_FROM === 'src' ? '../src' : '../dist';
const { BrokerServer } = await import(`${from}/index.js`);

// BENCH_BROKER_OPTIONS: extra BrokerServerOptions as JSON (e.g. '{"queueFlowHighWaterMessages":0}').
const extra = JSON.parse(process.env.BENCH_BROKER_OPTIONS ?? '{}');
const fromParent = JSON.parse(process.argv[2] ?? '{}');
const broker = new BrokerServer({ ...extra, ...fromParent, port: 0, host: '127.0.0.1' });
await broker.start();
const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
// BENCH_ADMIN=1: the management listener too (the overhead comparison), on a free port.
// Loaded only then: fastify and the page are not part of a plain broker's memory.
const admin =
  process.env.BENCH_ADMIN === '1'
    ? new (await import(`${from}/admin/index.js`)).AdminServer({ broker, port: 0 })
    : undefined;
await admin?.start();
process.send?.({ port: broker.port, adminPort: admin?.port });
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
  Promise.all([profiled, broker.close(), admin?.close()]).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.on('message', (m) => {
  if (m === 'stop') stop();
  else if (m === 'mark') loop.reset();
  else if (m === 'stats') {
    startHeapSampling();
    /** @type {import('./broker.bench.js').BrokerProcessStats} */
    const stats = {
      loopP50Ms: loop.percentile(50) / 1e6,
      loopP99Ms: loop.percentile(99) / 1e6,
      loopMaxMs: loop.max / 1e6,
      rssMiB: process.memoryUsage.rss() / 2 ** 20,
      peakRssMiB: process.resourceUsage().maxRSS / 2 ** 10,
    };
    process.send?.({ stats });
  }
});
process.on('SIGTERM', stop);
