import type { RetryPolicy } from '@dispatcher/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JSON_TASK_CONTENT_TYPE, MAX_DELAY_MS, TaskHeaders, TasksError } from '../src/index.js';
import { brokerTargets } from './brokers.js';
import { TestBed, until } from './helpers/fixtures.js';

/** The largest delay bucket (see `MAX_BUCKET_MS` in src/delay-queues.ts). */
const LARGEST_BUCKET_MS = 1_000_000_000;
const DAY_MS = 86_400_000;

describe.each(brokerTargets())('long delays against $name', ({ url }) => {
  let bed: TestBed;
  beforeEach(() => {
    bed = new TestBed(url);
  });
  afterEach(async () => {
    await bed.cleanup();
  });

  it('rejects delays above MAX_DELAY_MS at publish time and parks the longest ones in the largest bucket', async () => {
    const queue = bed.queue();
    const server = bed.server({ queues: [{ name: queue, bindingKeys: [queue] }] });
    await server.start();
    expect(MAX_DELAY_MS).toBe(2 ** 32 - 1);
    const tooLong = await server
      .publish({ name: 'n', routingKey: queue }, { delayMs: MAX_DELAY_MS + 1 })
      .catch((err: unknown) => err);
    expect(TasksError.hasCode(tooLong, 'DSP_TASKS_INVALID_ARGUMENT')).toBe(true);
    expect((tooLong as TasksError).details).toMatchObject({ maxDelayMs: MAX_DELAY_MS });
    await expect(
      server.publish({ name: 'n', routingKey: queue }, { runAt: Date.now() + 60 * DAY_MS }),
    ).rejects.toMatchObject({ code: 'DSP_TASKS_INVALID_ARGUMENT' });

    // 40 days is within the maximum: it waits in the largest bucket and comes back early for the rest.
    const bucket = bed.track(`${bed.exchange}.${queue}.delay.${LARGEST_BUCKET_MS}`);
    await server.publish({ name: 'n', routingKey: queue }, { delayMs: 40 * DAY_MS });
    expect(await bed.messageCount(bucket)).toBe(1);
    expect(await bed.messageCount(queue)).toBe(0);
  });

  it('delays in steps a not-before beyond the largest bucket instead of looping on a refused bucket', async () => {
    const retryFar: RetryPolicy = { next: () => ({ action: 'retry', delayMs: 2 ** 33 }) };
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        later: { fn: () => undefined },
        fails: {
          fn: () => {
            throw new Error('retry me in 99 days');
          },
        },
      },
      { retry: retryFar },
    );
    const bucket = bed.track(`${queue}.delay.${LARGEST_BUCKET_MS}`);
    const errors: unknown[] = [];
    server.on('error', (event) => errors.push(event.error));
    // Written by another client: a not-before 99 days away, past RabbitMQ's 2^32-1 ms TTL limit.
    const notBefore = Date.now() + 2 ** 33;
    const channel = await bed.channel();
    channel.sendToQueue(queue, Buffer.from(JSON.stringify({ uuid: 'far', name: 'later', args: null })), {
      contentType: JSON_TASK_CONTENT_TYPE,
      headers: { [TaskHeaders.notBefore]: notBefore },
    });
    // A retry delay the policy asks for beyond the limit takes the same path.
    await server.publish({ name: 'fails', routingKey: queue });
    await until(async () => (await bed.messageCount(bucket)) === 2, 10_000, 'both parked');
    // A task published after them runs: the worker has moved past both (a loop on a refused bucket would
    // have brought them back meanwhile).
    await server.publish({ name: 'later', routingKey: queue });
    await until(() => worker.stats().succeeded === 1, 10_000, 'the task published after them');
    expect(errors).toEqual([]);
    expect(await bed.messageCount(bucket)).toBe(2);
    expect(await bed.messageCount(queue)).toBe(0);
    expect(worker.stats()).toMatchObject({ started: 2, succeeded: 1, retried: 1 });
    const parked = await bed.drain(bucket);
    const far = parked.find((m) => JSON.parse(m.content.toString()).uuid === 'far');
    // The original time survives the hop, so the next arrival is delayed again for the rest.
    expect(far?.properties.headers?.[TaskHeaders.notBefore]).toBe(notBefore);
  });
});
