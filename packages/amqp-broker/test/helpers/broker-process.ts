/**
 * Our broker in a child process, for tests that must see whether the process survives, kill it, or
 * measure its memory: `BrokerServerOptions` come as JSON in argv[2] or in `BROKER_OPTIONS` (default none);
 * sends `{ port, recovery }` to the parent once listening — or `{ error, code }` and exits 1 when it
 * cannot start; answers 'stats' (and 'stats-gc', after a full collection) with `{ stats: { memory: process.memoryUsage(), alarms } }`; closes and
 * exits on 'stop'. Run with `--import tsx`.
 */
import { fullGc } from '../../src/alarms/full-gc.js';
import { BrokerServer, type BrokerServerOptions } from '../../src/index.js';

const options = JSON.parse(process.argv[2] ?? process.env.BROKER_OPTIONS ?? '{}') as BrokerServerOptions;
const broker = new BrokerServer({ port: 0, host: '127.0.0.1', ...options });
try {
  await broker.start();
} catch (err) {
  process.send?.({ error: (err as Error).message, code: (err as { code?: string }).code });
  process.exit(1);
}
process.send?.({ port: broker.port, recovery: broker.recovery });
process.on('message', (m) => {
  if (m === 'stats-gc') {
    fullGc();
    process.send?.({ stats: { memory: process.memoryUsage(), alarms: broker.resourceAlarms() } });
    return;
  }
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
