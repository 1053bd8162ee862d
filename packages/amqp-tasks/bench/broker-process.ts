/**
 * Runs `@dispatcher/amqp-broker` in a process of its own for the bench (tooling's child harness), so the
 * broker and the bench client do not share a thread (nor, on a multi-core machine, a core). Listens on
 * 127.0.0.1 (`BROKER_PORT`, default 0: a free port), sends `{ port }` once listening, and closes gracefully
 * on 'stop', SIGTERM/SIGINT or when the parent goes away.
 */
import { BrokerServer } from '@dispatcher/amqp-broker';
import { serveParent } from '@dispatcher/tooling/child-harness';

const broker = new BrokerServer({ port: Number(process.env.BROKER_PORT ?? 0), host: '127.0.0.1' });
await serveParent({
  start: async () => {
    await broker.start();
    return { port: broker.port };
  },
  stop: () => broker.close(),
});
