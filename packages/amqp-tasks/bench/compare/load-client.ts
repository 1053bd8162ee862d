import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import { Worker as BullWorker, Queue } from 'bullmq';
import { loadBuiltPackage } from '../built-package.js';
import type { LoadSpec } from './load-spec.js';

const { Server, defaultPrefetch } = await loadBuiltPackage();

/** A worker set up but not yet consuming (drain) or already consuming (end to end). */
export interface PreparedWorker {
  /** Starts consuming; resolves once the consumer is in place. */
  start(): Promise<void>;
  /** Resolves when the `tasks`-th task was settled towards the server. */
  readonly done: Promise<void>;
}

/** One library's side of the bench: publishing and consuming no-op tasks. */
export interface LoadClient {
  /** Publishes `count` tasks, `window` of them in flight; resolves when every one is confirmed. */
  publish(count: number, window: number): Promise<void>;
  prepareWorker(count: number, concurrency: number): Promise<PreparedWorker>;
  close(): Promise<void>;
}

/** Runs `count` calls of `one`, at most `window` at once (each lane starts its next call when one ends). */
export async function pipelined(count: number, window: number, one: () => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
}

function counter(count: number): { tick(): void; done: Promise<void> } {
  let seen = 0;
  let resolve!: () => void;
  const done = new Promise<void>((r) => {
    resolve = r;
  });
  // setImmediate: the last settle leaves in the next turn (acks are flushed there), so count it sent.
  return { tick: () => (++seen === count ? void setImmediate(resolve) : undefined), done };
}

async function amqpTasksClient(spec: LoadSpec): Promise<LoadClient> {
  // Defaults everywhere except names: this is what the bench compares.
  const server = new Server({
    url: spec.url,
    exchange: `${spec.queue}.ex`,
    defaultRoutingKey: spec.queue,
    queues: [{ name: spec.queue, bindingKeys: [spec.queue] }],
  });
  server.on('error', ({ component, error }) => console.error(`amqp-tasks ${component}: ${error.message}`));
  await server.start();
  return {
    publish: (count, window) => pipelined(count, window, () => server.publish({ name: 'noop', args: [] })),
    async prepareWorker(count, concurrency) {
      const { tick, done } = counter(count);
      server.on('task:succeeded', tick);
      const worker = server.newWorker(
        {
          name: `bench-${spec.queue}`,
          queue: spec.queue,
          limit: concurrency,
          // Only to compare settings: the bench's figures use the default.
          ...(process.env.BENCH_PREFETCH ? { prefetch: Number(process.env.BENCH_PREFETCH) } : {}),
        },
        { noop: { fn: () => undefined } },
      );
      return {
        async start() {
          worker.start();
          while (!worker.consuming) await new Promise((resolve) => setTimeout(resolve, 1));
        },
        done,
      };
    },
    close: () => server.close(),
  };
}

async function amqplibClient(spec: LoadSpec): Promise<LoadClient> {
  const model = await connect(spec.url);
  const channel = await model.createConfirmChannel();
  const exchange = `${spec.queue}.ex`;
  await channel.assertExchange(exchange, 'direct', { durable: true });
  await channel.assertQueue(spec.queue, { durable: true });
  await channel.bindQueue(spec.queue, exchange, spec.queue);
  return {
    publish: (count, window) =>
      pipelined(
        count,
        window,
        () =>
          new Promise<void>((resolve, reject) => {
            // The same work per task as the library: a uuid, a JSON body, the same properties.
            const uuid = randomUUID();
            const body = Buffer.from(JSON.stringify({ uuid, name: 'noop', args: [] }));
            channel.publish(
              exchange,
              spec.queue,
              body,
              {
                persistent: true,
                mandatory: true,
                messageId: uuid,
                contentType: 'application/vnd.dispatcher.task+json',
                timestamp: Math.floor(Date.now() / 1000),
                headers: {},
              },
              (err: unknown) => (err ? reject(err) : resolve()),
            );
          }),
      ),
    prepareWorker: async (count, concurrency) => {
      const { tick, done } = counter(count);
      return {
        async start() {
          // The library's default window for this limit: the same pattern without the library. Each
          // delivery is acked at once (the no-op's concurrency is the window).
          await channel.prefetch(defaultPrefetch(concurrency));
          await channel.consume(spec.queue, (msg) => {
            if (!msg) return;
            JSON.parse(msg.content.toString());
            channel.ack(msg);
            tick();
          });
        },
        done,
      };
    },
    close: () => model.close(),
  };
}

async function bullmqClient(spec: LoadSpec): Promise<LoadClient> {
  const { hostname, port } = new URL(spec.url);
  // BullMQ's workers need maxRetriesPerRequest: null (blocking commands).
  const connection = { host: hostname, port: Number(port), maxRetriesPerRequest: null };
  // Completed jobs removed: like an acked AMQP message, a finished task leaves nothing behind.
  const queue = new Queue(spec.queue, { connection, defaultJobOptions: { removeOnComplete: true } });
  await queue.waitUntilReady();
  const workers: BullWorker[] = [];
  return {
    publish: (count, window) => pipelined(count, window, () => queue.add('noop', {})),
    async prepareWorker(count, concurrency) {
      const { tick, done } = counter(count);
      const worker = new BullWorker(spec.queue, async () => undefined, {
        connection,
        concurrency,
        autorun: false,
      });
      workers.push(worker);
      worker.on('completed', tick);
      worker.on('error', (err) => console.error(`bullmq worker: ${err.message}`));
      await worker.waitUntilReady();
      return {
        async start() {
          void worker.run();
          while (!worker.isRunning()) await new Promise((resolve) => setTimeout(resolve, 1));
        },
        done,
      };
    },
    async close() {
      for (const worker of workers) await worker.close();
      await queue.close();
    },
  };
}

/** The client of `spec.library`, connected. */
export function openClient(spec: LoadSpec): Promise<LoadClient> {
  switch (spec.library) {
    case 'amqp-tasks':
      return amqpTasksClient(spec);
    case 'amqplib':
      return amqplibClient(spec);
    case 'bullmq':
      return bullmqClient(spec);
  }
}
