/**
 * Runs tasks until Ctrl-C, like the Go library's examples/worker: `npx tsx examples/worker.ts`.
 * Ctrl-C closes gracefully: stops consuming, waits for running tasks (10 s at most), then disconnects.
 */
import { Server } from '../src/index.js';
import { greet, serverOptions } from './tasks.js';

const server = new Server(serverOptions);
server.on('error', ({ component, error }) => console.error(`[${component}] ${error.message}`));
server.on('task:succeeded', ({ name, uuid, durationMs }) =>
  console.log(`${name} ${uuid} done in ${durationMs.toFixed(1)} ms`),
);
server.on('task:dead-lettered', ({ name, uuid, reason }) =>
  console.log(`${name} ${uuid} dead-lettered (${reason})`),
);
await server.start();

const worker = server.newWorker(
  { name: 'example_worker', queue: 'example_queue', bindingKeys: ['example_queue'], limit: 3 },
  {
    // Go-style task: args arrive as the array the sender put on the wire.
    task_1: {
      timeoutMs: 10_000,
      uuidAsFirstArg: true,
      fn: (uuid, args) => {
        const [text, number] = args as [string, number];
        console.log(`task_1 ${uuid}: string - ${text}, int - ${number}`);
      },
    },
    // Typed task: args are parsed by the schema; the result goes back to call().
    [greet.name]: greet.handler(async ({ name, times }, { signal }) => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      signal.throwIfAborted();
      return { greeting: Array.from({ length: times }, () => `Hello, ${name}!`).join(' ') };
    }),
  },
);
worker.start();
console.log('worker consuming example_queue; Ctrl-C to stop');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`${signal}: closing`);
    server.close({ timeoutMs: 10_000 }).then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
