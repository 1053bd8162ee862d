/**
 * One library's load in a process of its own (started by `compare.bench.ts`): publishes or consumes no-op
 * tasks as its spec (JSON, first argument) says. Prints `{"ready":true}` once connected (a worker: once
 * consuming, unless it starts on go), waits for a line on standard input before timed work, then prints
 * `{"result":{startedAt,endedAt,tasks}}` and exits.
 */
import { createInterface } from 'node:readline';
import { openClient } from './load-client.js';
import { type LoadResult, type LoadSpec, wallNow } from './load-spec.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const lines = createInterface({ input: process.stdin });
const go = () => new Promise<void>((resolve) => lines.once('line', () => resolve()));
const cpuSince = (start: NodeJS.CpuUsage) => {
  const { user, system } = process.cpuUsage(start);
  return user + system;
};
const say = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);

const client = await openClient(spec);
let result: LoadResult;
switch (spec.role) {
  case 'fill':
  case 'publish': {
    // A fill runs at once (untimed by the bench); a publish waits for the go.
    if (spec.role === 'publish') {
      say({ ready: true });
      await go();
    }
    const startedAt = wallNow();
    const cpu = process.cpuUsage();
    await client.publish(spec.tasks, spec.window);
    result = { startedAt, endedAt: wallNow(), tasks: spec.tasks, cpuMicros: cpuSince(cpu) };
    break;
  }
  case 'work': {
    const worker = await client.prepareWorker(spec.tasks, spec.concurrency);
    if (!spec.startOnGo) await worker.start();
    say({ ready: true });
    await go();
    const startedAt = wallNow();
    const cpu = process.cpuUsage();
    if (spec.startOnGo) await worker.start();
    await worker.done;
    result = { startedAt, endedAt: wallNow(), tasks: spec.tasks, cpuMicros: cpuSince(cpu) };
    break;
  }
}
say({ result });
await client.close();
lines.close();
process.exit(0);
