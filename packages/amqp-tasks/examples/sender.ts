/**
 * Sends tasks, like the Go library's examples/sender: `npx tsx examples/sender.ts` (worker running or not;
 * the tasks wait in the queue). Set AMQP_URL to use another broker.
 */
import { goCodec, Server } from '../src/index.js';
import { greet, serverOptions } from './tasks.js';

const server = new Server({ ...serverOptions, tasks: [greet] });
server.on('error', ({ component, error }) => console.error(`[${component}] ${error.message}`));
await server.start();

// 1. A task as the Go library sends it: positional args with Go types on the wire.
const goStyle = new Server({ ...serverOptions, codec: goCodec });
await goStyle.start();
const uuid = await goStyle.publish({ name: 'task_1', args: ['simple string', 1] });
console.log(`sent task_1 ${uuid} (Go wire format)`);
await goStyle.close();

// 2. A typed task: the compiler checks the args, the schema validates them.
console.log(`sent greet ${await server.publish('greet', { name: 'Ada', times: 2 })}`);

// 3. Delayed by two seconds.
console.log(
  `sent greet ${await server.publish('greet', { name: 'later', times: 1 }, { delayMs: 2_000 })} (delayed 2 s)`,
);

// 4. RPC style: wait for the result (needs the worker running).
try {
  const { greeting } = await server.call('greet', { name: 'caller', times: 1 }, { timeoutMs: 5_000 });
  console.log(`call() returned: ${greeting}`);
} catch (err) {
  console.log(`call() failed: ${(err as Error).message} (is examples/worker.ts running?)`);
}

await server.close();
