import type { Logger } from '@dispatcher/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask } from './define-task.js';
import { Server } from './server.js';
import { createReporter, TasksEvents } from './task-events.js';

/**
 * A logger that records, like pino's output would show, every key written twice on one line: bound twice
 * through `child()`, or bound and then passed again in a call's fields.
 */
function keyCheckingLogger(
  bindings: Record<string, unknown> = {},
  seen = { components: new Set<string>(), twice: [] as string[] },
): Logger & { seen: typeof seen } {
  const line = (fields?: unknown) => {
    if (typeof fields !== 'object' || fields === null) return;
    for (const key of Object.keys(fields)) if (key in bindings) seen.twice.push(key);
  };
  return {
    seen,
    trace: line,
    debug: line,
    info: line,
    warn: line,
    error: line,
    fatal: line,
    child(more) {
      for (const key of Object.keys(more)) if (key in bindings) seen.twice.push(key);
      if (typeof more.component === 'string') seen.components.add(more.component);
      return keyCheckingLogger({ ...bindings, ...more }, seen);
    },
  };
}

describe('Server options', () => {
  it.each([
    [{ url: 'http://x', exchange: 'e', defaultRoutingKey: 'k' }],
    [{ url: 'amqp://x', exchange: '', defaultRoutingKey: 'k' }],
    [{ url: 'amqp://x', exchange: 'e', defaultRoutingKey: '' }],
    [{ url: 'amqp://x', exchange: 'e', defaultRoutingKey: 'k', reconnect: { retries: -1 } }],
  ])('refuses %j with DSP_TASKS_INVALID_ARGUMENT', (options) => {
    expect(() => new Server(options)).toThrow(
      expect.objectContaining({ code: 'DSP_TASKS_INVALID_ARGUMENT' }) as unknown as Error,
    );
  });

  it('refuses tls options with an amqp:// URL instead of connecting in plaintext', () => {
    for (const url of ['amqp://127.0.0.1', 'amqp://guest:guest@127.0.0.1:5672/']) {
      expect(
        () => new Server({ url, exchange: 'e', defaultRoutingKey: 'k', tls: { insecure: true } }),
      ).toThrow(
        expect.objectContaining({
          code: 'DSP_TASKS_INVALID_ARGUMENT',
          message: expect.stringContaining('amqps://'),
        }),
      );
    }
    expect(
      () => new Server({ url: 'amqps://127.0.0.1', exchange: 'e', defaultRoutingKey: 'k', tls: {} }),
    ).not.toThrow();
    expect(
      () => new Server({ url: 'amqp://127.0.0.1', exchange: 'e', defaultRoutingKey: 'k' }),
    ).not.toThrow();
  });

  it('refuses a worker without name, queue or a sane limit, and duplicate names', () => {
    const server = new Server({ url: 'amqp://127.0.0.1', exchange: 'e', defaultRoutingKey: 'k' });
    expect(() => server.newWorker({ name: '', queue: 'q' }, {})).toThrow(/name/);
    expect(() => server.newWorker({ name: 'w', queue: '' }, {})).toThrow(/queue/);
    expect(() => server.newWorker({ name: 'w', queue: 'q', limit: 0 }, {})).toThrow(/limit/);
    server.newWorker({ name: 'w', queue: 'q' }, {});
    expect(() => server.newWorker({ name: 'w', queue: 'q' }, {})).toThrow(/exists/);
  });

  it('answers DSP_TASKS_CLOSED from every entry point once closed (start, newWorker, publish)', async () => {
    const server = new Server({ url: 'amqp://127.0.0.1', exchange: 'e', defaultRoutingKey: 'k' });
    await server.close();
    await expect(server.start()).rejects.toMatchObject({ code: 'DSP_TASKS_CLOSED' });
    expect(() => server.newWorker({ name: 'w', queue: 'q' }, {})).toThrow(
      expect.objectContaining({ code: 'DSP_TASKS_CLOSED' }),
    );
    await expect(server.publish('t', [])).rejects.toMatchObject({ code: 'DSP_TASKS_CLOSED' });
  });

  it('type-checks publishing per task name', () => {
    const ping = defineTask({ name: 'ping', schema: z.object({ n: z.number() }) });
    const server = new Server({
      url: 'amqp://127.0.0.1',
      exchange: 'e',
      defaultRoutingKey: 'k',
      tasks: [ping],
    });
    // Compile-time only: these lines are checked by tsc, never run.
    const check = () => {
      void server.publish('ping', { n: 1 });
      // @ts-expect-error unknown task name
      void server.publish('pong', { n: 1 });
      // @ts-expect-error wrong args
      void server.publish('ping', { n: 'one' });
    };
    expect(typeof check).toBe('function');
  });
});

describe('Server logging', () => {
  it('gives each component its own child logger, binding no key twice', () => {
    const logger = keyCheckingLogger();
    const server = new Server({ url: 'amqp://127.0.0.1', exchange: 'e', defaultRoutingKey: 'k', logger });
    server.newWorker({ name: 'w', queue: 'q' }, {});
    expect([...logger.seen.components].sort()).toEqual(['amqp-tasks', 'connection', 'publisher', 'worker']);
    expect(logger.seen.twice).toEqual([]);
  });

  it('logs a problem with its component once', () => {
    const logger = keyCheckingLogger();
    const componentLog = logger.child({ component: 'worker' });
    createReporter(componentLog, new TasksEvents(componentLog), logger).problem(
      'worker w',
      new Error('boom'),
    );
    expect(logger.seen.twice).toEqual([]);
  });
});
