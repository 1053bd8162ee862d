/**
 * Holds N idle AMQP connections (one channel each) for idle-connections.bench.ts, on tooling's child
 * harness: the first message is `{ opened }` once all are open (or the harness's `{ error }`); 'stop' closes
 * them.
 */
import { serveParent } from '@dispatcher/tooling/child-harness';
import amqp from 'amqplib';

const [url = '', count = '0'] = process.argv.slice(2);
const connections: amqp.ChannelModel[] = [];

async function open(): Promise<{ opened: number }> {
  for (let i = 0; i < Number(count); i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, Number(count) - i) }, () => amqp.connect(url)),
    );
    for (const c of batch) await c.createChannel();
    connections.push(...batch);
  }
  return { opened: connections.length };
}

await serveParent({
  start: async () => {
    // A broker out of sockets leaves handshakes hanging: give up rather than wait for ever.
    let giveUp: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      giveUp = setTimeout(
        () => reject(new Error(`only ${connections.length} of ${count} connections opened within 60 s`)),
        60_000,
      );
    });
    try {
      return await Promise.race([open(), timedOut]);
    } finally {
      clearTimeout(giveUp);
    }
  },
  stop: () => Promise.allSettled(connections.map((c) => c.close())),
});
