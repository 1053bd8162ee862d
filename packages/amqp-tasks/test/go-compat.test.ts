import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GO_TASK_CONTENT_TYPE, goArg, goCodec } from '../src/index.js';
import { brokerTargets } from './brokers.js';
import { TestBed, until } from './helpers/fixtures.js';

describe.each(brokerTargets())('Go dispatcher wire compatibility against $name', ({ url }) => {
  let bed: TestBed;
  beforeEach(() => {
    bed = new TestBed(url);
  });
  afterEach(async () => {
    await bed.cleanup();
  });

  it('publishes what a Go worker reads: JSON {uuid,name,args:[{type,value}]}, application/json, persistent', async () => {
    const queue = bed.queue();
    const server = bed.server({ codec: goCodec, queues: [{ name: queue, bindingKeys: [queue] }] });
    await server.start();
    const uuid = await server.publish({
      name: 'task_1',
      routingKey: queue,
      args: ['simple string', 1, 2.5, true, goArg('int32', 7)],
      headers: { tenant: 'a' },
    });
    const [message] = await bed.waitForMessages(queue, 1);
    expect(JSON.parse(message!.content.toString())).toEqual({
      uuid,
      name: 'task_1',
      args: [
        { type: 'string', value: 'simple string' },
        { type: 'int', value: 1 },
        { type: 'float64', value: 2.5 },
        { type: 'bool', value: true },
        { type: 'int32', value: 7 },
      ],
    });
    expect(message!.properties.contentType).toBe(GO_TASK_CONTENT_TYPE);
    expect(message!.properties.deliveryMode).toBe(2);
    expect(message!.properties.headers?.tenant).toBe('a');
    // The exchange is a durable direct exchange, as the Go library declares it (a mismatch would be 406).
    const channel = await bed.channel();
    await expect(channel.assertExchange(bed.exchange, 'direct', { durable: true })).resolves.toBeDefined();
  });

  it('runs tasks a Go publisher sent, with the uuid first when asked, under the worker name as consumer tag', async () => {
    const calls: Array<{ uuid: string; args: unknown; consumerTag: string }> = [];
    const { worker, queue } = await bed.serverWithWorker({
      task_1: {
        uuidAsFirstArg: true,
        fn: (uuid, args, ctx) => void calls.push({ uuid, args, consumerTag: ctx.consumerTag }),
      },
    });
    // Exactly what the Go publisher puts on the wire.
    const body = JSON.stringify({
      uuid: '5f8a1c1e-9d3b-4f7a-8a0e-2b1c3d4e5f60',
      name: 'task_1',
      args: [
        { type: 'string', value: 'simple string' },
        { type: 'int', value: 1 },
      ],
    });
    const channel = await bed.channel();
    channel.publish(bed.exchange, queue, Buffer.from(body), {
      contentType: 'application/json',
      deliveryMode: 2,
      headers: {},
    });
    await until(() => calls.length === 1);
    expect(calls[0]).toEqual({
      uuid: '5f8a1c1e-9d3b-4f7a-8a0e-2b1c3d4e5f60',
      args: ['simple string', 1],
      consumerTag: worker.name,
    });
  });
});
