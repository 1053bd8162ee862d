import type { RetryPolicy } from '@dispatcher/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TaskHeaders, TasksError } from '../src/index.js';
import { brokerTargets } from './brokers.js';
import { TestBed, until } from './helpers/fixtures.js';

/**
 * Follows the timers set from `file` (seen in the stack of the setTimeout call) until the test ends: how many
 * were set, and the ones neither fired nor cleared yet.
 */
function trackTimers(file: string): { created: number; pending: Set<NodeJS.Timeout> } {
  const tracked = { created: 0, pending: new Set<NodeJS.Timeout>() };
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((
    fn: (...a: unknown[]) => void,
    ms?: number,
    ...args: unknown[]
  ) => {
    const timer: NodeJS.Timeout = realSet(() => {
      tracked.pending.delete(timer);
      fn(...args);
    }, ms);
    if (new Error().stack?.includes(file)) {
      tracked.created++;
      tracked.pending.add(timer);
    }
    return timer;
  }) as typeof setTimeout);
  vi.spyOn(globalThis, 'clearTimeout').mockImplementation((timer) => {
    tracked.pending.delete(timer as NodeJS.Timeout);
    realClear(timer);
  });
  return tracked;
}

/** An object JSON.stringify throws on. */
function circular(): Record<string, unknown> {
  const value: Record<string, unknown> = { label: 'loop' };
  value.self = value;
  return value;
}

describe.each(brokerTargets())('settling against $name', ({ url }) => {
  let bed: TestBed;
  beforeEach(() => {
    bed = new TestBed(url);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await bed.cleanup();
  });

  it('dead-letters tasks that throw values JSON cannot hold (BigInt, circular) and keeps consuming', async () => {
    const ran: number[] = [];
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        bigint: {
          fn: () => {
            throw 10n;
          },
        },
        circular: {
          fn: () => {
            throw circular();
          },
        },
        coded: {
          fn: () => {
            throw Object.assign(new Error('coded with a BigInt'), { code: 7n });
          },
        },
        ok: { fn: (args) => void ran.push((args as number[])[0]!) },
      },
      // Two credits: before the fix, two poison tasks held them for good and nothing else ran.
      { limit: 2, retry: { maxAttempts: 1 } },
    );
    for (const name of ['bigint', 'circular', 'bigint', 'circular', 'coded']) {
      await server.publish({ name, routingKey: queue });
    }
    await server.publish({ name: 'ok', routingKey: queue, args: [1] });
    await until(() => ran.length === 1, 10_000, 'the healthy task');
    const dead = await bed.waitForMessages(`${queue}.dead`, 5, 10_000);
    const byName = (name: string) =>
      dead
        .filter((m) => JSON.parse(m.content.toString()).name === name)
        .map((m) => m.properties.headers ?? {});
    for (const headers of byName('bigint')) {
      expect(headers[TaskHeaders.deadLetterReason]).toBe('failed');
      expect(headers[TaskHeaders.errorMessage]).toBe('10n');
    }
    for (const headers of byName('circular')) {
      expect(String(headers[TaskHeaders.errorMessage])).toContain('Circular');
      expect(String(headers[TaskHeaders.errorMessage])).toContain('loop');
    }
    expect(byName('coded')[0]?.[TaskHeaders.errorCode]).toBe('7');
    expect(worker.stats()).toMatchObject({ deadLettered: 5, succeeded: 1 });
    expect(await bed.messageCount(queue)).toBe(0);
  });

  it('retries tasks that throw a BigInt with the error recorded in the retry headers', async () => {
    const attempts: Array<unknown> = [];
    const { queue, server } = await bed.serverWithWorker(
      {
        flaky: {
          fn: (_args, ctx) => {
            attempts.push(ctx.headers[TaskHeaders.errorMessage]);
            if (ctx.attempt < 3) throw BigInt(ctx.attempt);
          },
        },
      },
      { limit: 1, retry: { baseMs: 20, capMs: 20, jitter: 'none', maxAttempts: 3 } },
    );
    await server.publish({ name: 'flaky', routingKey: queue });
    await until(() => attempts.length === 3, 10_000, 'three attempts');
    expect(attempts).toEqual([undefined, '1n', '2n']);
  });

  it('dead-letters with the policy error when a custom RetryPolicy throws, without wedging the worker', async () => {
    const broken: RetryPolicy = {
      next() {
        throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'the policy broke');
      },
    };
    const ran: number[] = [];
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        fails: {
          fn: () => {
            throw new Error('the task failed');
          },
        },
        ok: { fn: (args) => void ran.push((args as number[])[0]!) },
      },
      { limit: 1, retry: broken },
    );
    const errors: unknown[] = [];
    server.on('error', (event) => errors.push(event.error));
    await server.publish({ name: 'fails', routingKey: queue });
    await server.publish({ name: 'fails', routingKey: queue });
    await server.publish({ name: 'ok', routingKey: queue, args: [1] });
    await until(() => ran.length === 1, 10_000, 'the healthy task');
    const dead = await bed.waitForMessages(`${queue}.dead`, 2, 10_000);
    for (const message of dead) {
      const headers = message.properties.headers ?? {};
      expect(headers[TaskHeaders.deadLetterReason]).toBe('failed');
      expect(headers[TaskHeaders.errorCode]).toBe('DSP_TASKS_INVALID_ARGUMENT');
      expect(headers[TaskHeaders.errorMessage]).toBe('the policy broke');
    }
    expect(worker.stats().deadLettered).toBe(2);
    // The broken policy is reported, not hidden.
    expect(errors.filter((err) => (err as Error).message.includes('the policy broke'))).toHaveLength(2);
  });

  it('answers call() with DSP_TASKS_ENCODE when the result cannot be encoded, and acks the task', async () => {
    const { server, worker, queue } = await bed.serverWithWorker({
      bigint: { fn: () => ({ n: 10n }) },
      circular: { fn: () => circular() },
      fine: { fn: () => ({ n: 10 }) },
    });
    const errors: unknown[] = [];
    server.on('error', (event) => errors.push(event.error));
    for (const name of ['bigint', 'circular']) {
      const started = Date.now();
      const err = await server
        .call({ name, routingKey: queue }, { timeoutMs: 20_000 })
        .catch((error: unknown) => error);
      expect(TasksError.hasCode(err, 'DSP_TASKS_ENCODE')).toBe(true);
      // The reply came back: no waiting for the call's timeout.
      expect(Date.now() - started).toBeLessThan(10_000);
    }
    expect(errors.filter((err) => TasksError.hasCode(err, 'DSP_TASKS_ENCODE'))).toHaveLength(2);
    // The channel is healthy and still answers.
    expect(await server.call({ name: 'fine', routingKey: queue }, { timeoutMs: 5_000 })).toEqual({ n: 10 });
    await until(() => worker.stats().succeeded === 3);
    expect(await bed.messageCount(queue)).toBe(0);
    expect(await bed.messageCount(`${queue}.dead`)).toBe(0);
  });

  it('requeues at once on close a delivery waiting after a failed dead-letter publish, leaving no timer', async () => {
    const { server, worker, queue } = await bed.serverWithWorker(
      {
        fails: {
          fn: () => {
            throw new Error('always');
          },
        },
      },
      { retry: { maxAttempts: 1 } },
    );
    // Without its dead-letter queue the dead-letter copy is returned unroutable: the failed-settle path.
    const channel = await bed.channel();
    await channel.deleteQueue(`${queue}.dead`);
    const requeueTimers = trackTimers('settler.ts');
    const errors: unknown[] = [];
    server.on('error', (event) => errors.push(event.error));
    await server.publish({ name: 'fails', routingKey: queue });
    await until(() => errors.some((err) => TasksError.hasCode(err, 'DSP_TASKS_UNROUTABLE')), 10_000);
    await server.close({ timeoutMs: 2_000 });
    // A requeue timer left behind would fire after the close and drop its settle: none may be pending.
    expect(requeueTimers.created).toBeGreaterThan(0);
    expect(requeueTimers.pending.size, 'requeue timers left after close').toBe(0);
    expect(worker.stats().droppedAcks).toBe(0);
    expect(await bed.messageCount(queue)).toBe(1);
  });
});
