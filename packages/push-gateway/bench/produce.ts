// The bench's producer, in its own process: puts msgpack jobs (PHP-style camelCase keys) into the main tube
// while the gateway runs, spread over the servers, at `rate` messages a second (`max`: as fast as beanstalkd
// takes them) for `seconds`. Each body carries its put time for the latency figure. Reports what it put.
import { encode } from '@msgpack/msgpack';
import { BeanstalkClient } from '../src/beanstalk/beanstalk-client.js';

const [addresses = '', topic = 'bench', rateText = '1000', secondsText = '5'] = process.argv.slice(2);
const rate = rateText === 'max' ? Number.POSITIVE_INFINITY : Number(rateText);
const seconds = Number(secondsText);
const clients = addresses
  .split(',')
  .map((a) => new BeanstalkClient({ host: a.split(':')[0], port: Number(a.split(':')[1]) }));
await Promise.all(clients.map((c) => c.connect()));

const cpuStart = process.cpuUsage();
const TICK_MS = 10;
const started = performance.now();
let sent = 0;
const inFlight = new Set<Promise<unknown>>();
while (performance.now() - started < seconds * 1000) {
  // Open loop: the count due by now, whatever the gateway does (capped so `max` keeps a bounded window).
  const due = Math.min(
    Math.floor(((performance.now() - started) / 1000) * rate),
    sent + Math.max(0, 2_000 - inFlight.size),
  );
  while (sent < due) {
    const c = clients[sent % clients.length] as BeanstalkClient;
    const body = encode({
      msgKey: topic,
      body: { i: sent, t: Date.now() },
      sender: 'bench',
      time: Date.now() / 1000,
    });
    const p = c.put(body, { tube: 'main-incoming-queue' }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    sent += 1;
  }
  await (inFlight.size >= 2_000 ? Promise.race(inFlight) : new Promise((r) => setTimeout(r, TICK_MS)));
}
await Promise.all(inFlight);
const elapsed = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStart);
process.send?.({ sent, seconds: elapsed, cpuMs: (cpu.user + cpu.system) / 1000 });
await Promise.all(clients.map((c) => c.close()));
process.exit(0);
