/**
 * Our broker in a child process, for tests that must see whether the process survives or measure its
 * memory: options come as JSON in `BROKER_OPTIONS` (default none); sends `{ port }` to the parent once
 * listening; answers 'stats' with `{ stats: { memory: process.memoryUsage(), alarms } }`; closes and
 * exits on 'stop'. Run with `--import tsx`.
 */
import { BrokerServer, type BrokerServerOptions } from '../../src/index.js';

const options = JSON.parse(process.env.BROKER_OPTIONS ?? '{}') as BrokerServerOptions;
const broker = new BrokerServer({ port: 0, host: '127.0.0.1', ...options });
await broker.start();
process.send?.({ port: broker.port });
process.on('message', (m) => {
  if (m === 'stats') {
    process.send?.({ stats: { memory: process.memoryUsage(), alarms: broker.resourceAlarms() } });
    return;
  }
  if (m !== 'stop') return;
  broker.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
