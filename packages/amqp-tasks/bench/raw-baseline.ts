import { randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'amqplib';

/**
 * The same end-to-end pattern on bare amqplib (confirm channel, pipelined publishes, a consumer with the
 * same prefetch acking each message), without this library: the ceiling the broker and this machine allow.
 */
export async function rawBaseline(
  url: string,
  tasks: number,
  window: number,
  prefetch: number,
): Promise<number> {
  const suffix = randomBytes(4).toString('hex');
  const queue = `dsp-bench.raw.${suffix}`;
  const model = await connect(url);
  const publish = await model.createConfirmChannel();
  const consume = await model.createChannel();
  await publish.assertQueue(queue, { durable: true });
  await consume.prefetch(prefetch);
  let acked = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  await consume.consume(queue, (msg) => {
    if (!msg) return;
    JSON.parse(msg.content.toString());
    consume.ack(msg);
    if (++acked === tasks) resolveDone();
  });
  const started = performance.now();
  let next = 0;
  const publisher = async () => {
    while (next < tasks) {
      next++;
      const body = Buffer.from(JSON.stringify({ uuid: randomUUID(), name: 'noop', args: [] }));
      await new Promise<void>((resolve, reject) =>
        publish.sendToQueue(queue, body, { persistent: true, mandatory: true }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, tasks) }, publisher));
  await done;
  const elapsed = (performance.now() - started) / 1000;
  await publish.deleteQueue(queue);
  await model.close();
  return tasks / elapsed;
}
