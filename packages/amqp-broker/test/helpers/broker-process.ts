/**
 * Our broker in a child process, for tests that must see whether the process survives: sends `{ port }`
 * to the parent once listening, closes and exits on 'stop'. Run with `--import tsx`.
 */
import { BrokerServer } from '../../src/index.js';

const broker = new BrokerServer({ port: 0, host: '127.0.0.1' });
await broker.start();
process.send?.({ port: broker.port });
process.on('message', (m) => {
  if (m !== 'stop') return;
  broker.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
