/** Shared by the example sender and worker: the connection settings and the task definitions. */
import { z } from 'zod';
import { defineTask, type ServerOptions } from '../src/index.js';

export const serverOptions = {
  url: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/',
  exchange: 'dispatcher_example',
  defaultRoutingKey: 'example_queue',
  queues: [{ name: 'example_queue', bindingKeys: ['example_queue'] }],
  reconnect: { retries: 'forever', intervalMs: 1_000 },
} satisfies ServerOptions;

/** A typed task: args checked when sending and again in the worker. */
export const greet = defineTask({
  name: 'greet',
  schema: z.object({ name: z.string().min(1), times: z.number().int().positive().max(10) }),
  result: z.object({ greeting: z.string() }),
  timeoutMs: 5_000,
});
