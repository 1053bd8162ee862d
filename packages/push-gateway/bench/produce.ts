// The bench's producer, in its own process: puts N msgpack jobs (PHP-style camelCase) into the main tube,
// spread over the servers, each carrying its put time for the latency figure.
import { encode } from '@msgpack/msgpack';
import { BeanstalkClient } from '../src/beanstalk/beanstalk-client.js';

const [addresses = '', topic = 'bench', countText = '1000'] = process.argv.slice(2);
const count = Number(countText);
const clients = addresses
  .split(',')
  .map((a) => new BeanstalkClient({ host: a.split(':')[0], port: Number(a.split(':')[1]) }));
const batch: Promise<number>[] = [];
for (let i = 0; i < count; i++) {
  const c = clients[i % clients.length] as BeanstalkClient;
  batch.push(
    c.put(encode({ msgKey: topic, body: { i, t: Date.now() }, sender: 'bench', time: Date.now() / 1000 }), {
      tube: 'main-incoming-queue',
    }),
  );
  if (batch.length >= 200) await Promise.all(batch.splice(0));
}
await Promise.all(batch);
await Promise.all(clients.map((c) => c.close()));
process.exit(0);
