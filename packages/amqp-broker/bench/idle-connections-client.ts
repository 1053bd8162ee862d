/** Holds N idle AMQP connections (one channel each) for idle-connections.bench.ts; 'stop' closes them. */
import amqp from 'amqplib';

const [url = '', count = '0'] = process.argv.slice(2);
const connections: amqp.ChannelModel[] = [];
// A broker out of sockets leaves handshakes hanging: give up rather than wait for ever.
const giveUp = setTimeout(() => {
  process.send?.({ error: `only ${connections.length} of ${count} connections opened within 60 s` });
  process.exit(1);
}, 60_000);
try {
  for (let i = 0; i < Number(count); i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, Number(count) - i) }, () => amqp.connect(url)),
    );
    for (const c of batch) await c.createChannel();
    connections.push(...batch);
  }
  clearTimeout(giveUp);
  process.send?.({ opened: connections.length });
} catch (err) {
  process.send?.({ error: (err as Error).message });
}
process.on('message', (m) => {
  if (m !== 'stop') return;
  void Promise.allSettled(connections.map((c) => c.close())).then(() => process.exit(0));
});
