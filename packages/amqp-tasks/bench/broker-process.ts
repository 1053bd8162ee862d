/**
 * Runs `@dispatcher/amqp-broker` in a process of its own for the bench, so the broker and the bench client
 * do not share a thread (nor, on a multi-core machine, a core). Listens on 127.0.0.1 (`BROKER_PORT`, default
 * 0: a free port), prints `{"port":N}` on one line once listening, and closes gracefully on SIGTERM/SIGINT
 * or when its standard input ends (the parent died).
 */
import { BrokerServer } from '@dispatcher/amqp-broker';

const broker = new BrokerServer({ port: Number(process.env.BROKER_PORT ?? 0), host: '127.0.0.1' });
await broker.start();
process.stdout.write(`${JSON.stringify({ port: broker.port })}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  broker.close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.once('end', stop);
process.stdin.resume();
