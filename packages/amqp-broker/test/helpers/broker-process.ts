/**
 * Our broker in a child process (tooling's child harness), for tests that must see whether the process
 * survives, kill it, or measure its memory: `BrokerServerOptions` come as JSON in argv[2] or in
 * `BROKER_OPTIONS` (default none); the first message is `{ port, recovery }` (or `{ error, code }` when it
 * cannot start); answers 'stats' (and 'stats-gc', after a full collection) with
 * `{ stats: { memory: process.memoryUsage(), alarms } }`; closes and exits on 'stop'. Run with `--import tsx`.
 */
import { serveParent } from '@dispatcher/tooling/child-harness';
import { fullGc } from '../../src/alarms/full-gc.js';
import { BrokerServer, type BrokerServerOptions } from '../../src/index.js';

const options = JSON.parse(process.argv[2] ?? process.env.BROKER_OPTIONS ?? '{}') as BrokerServerOptions;
const broker = new BrokerServer({ port: 0, host: '127.0.0.1', ...options });
const stats = () => ({ stats: { memory: process.memoryUsage(), alarms: broker.resourceAlarms() } });

await serveParent({
  start: async () => {
    await broker.start();
    return { port: broker.port, recovery: broker.recovery };
  },
  stop: () => broker.close(),
  commands: {
    stats,
    'stats-gc': () => {
      fullGc();
      return stats();
    },
  },
});
