import { recordingLogger } from '@dispatcher/tooling';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask, TasksError } from '../src/index.js';
import { brokerTargets } from './brokers.js';
import { sleep, TestBed, until } from './helpers/fixtures.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

describe.each(brokerTargets())('publisher against $name', ({ url }) => {
  let bed: TestBed;
  let proxy: TcpProxy | undefined;
  beforeEach(() => {
    bed = new TestBed(url);
  });
  afterEach(async () => {
    await bed.cleanup();
    await proxy?.close();
    proxy = undefined;
  });

  it('pipelines confirms: many publishes in flight at once, all confirmed and stored', async () => {
    const queue = bed.queue();
    const server = bed.server({ queues: [{ name: queue, bindingKeys: [queue] }] });
    await server.start();
    const publishes = Array.from({ length: 500 }, (_, i) =>
      server.publish({ name: 'n', routingKey: queue, args: [i] }),
    );
    // All 500 are outstanding together: nothing waits for the previous confirm.
    expect(server.stats().publishesOutstanding).toBe(500);
    const uuids = await Promise.all(publishes);
    expect(new Set(uuids).size).toBe(500);
    expect(server.stats().publishesOutstanding).toBe(0);
    const channel = await bed.channel();
    expect((await channel.checkQueue(queue)).messageCount).toBe(500);
  });

  it('rejects an unroutable task (mandatory) with DSP_TASKS_UNROUTABLE', async () => {
    const server = bed.server();
    await server.start();
    await expect(server.publish({ name: 'n', routingKey: 'nobody-listens' })).rejects.toMatchObject({
      code: 'DSP_TASKS_UNROUTABLE',
    });
  });

  it('rejects args JSON cannot hold (BigInt, a cycle) with DSP_TASKS_ENCODE', async () => {
    const server = bed.server();
    await server.start();
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const args of [[10n], [cycle]]) {
      await expect(server.publish({ name: 'n', routingKey: 'k', args })).rejects.toMatchObject({
        code: 'DSP_TASKS_ENCODE',
      });
    }
  });

  it('rejects a publish the broker nacks with DSP_TASKS_NACKED', async () => {
    const queue = bed.queue();
    const server = bed.server({
      queues: [
        {
          name: queue,
          bindingKeys: [queue],
          arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
        },
      ],
    });
    await server.start();
    await server.publish({ name: 'n', routingKey: queue });
    await expect(server.publish({ name: 'n', routingKey: queue })).rejects.toMatchObject({
      code: 'DSP_TASKS_NACKED',
    });
  });

  it('validates args of defined tasks before publishing', async () => {
    const queue = bed.queue();
    const resize = defineTask({ name: 'resize', schema: z.object({ width: z.number().int().positive() }) });
    const server = bed.server({ queues: [{ name: queue, bindingKeys: [queue] }], tasks: [resize] });
    await server.start();
    // @ts-expect-error width must be a number: publishing is type-checked per task name
    const bad = server.publish('resize', { width: 'wide' }, { routingKey: queue });
    await expect(bad).rejects.toMatchObject({ code: 'DSP_TASKS_VALIDATION' });
    await server.publish('resize', { width: 320 }, { routingKey: queue });
    const [message] = await bed.waitForMessages(queue, 1);
    expect(JSON.parse(message!.content.toString()).args).toEqual({ width: 320 });
  });

  it('holds publishes while disconnected and sends them once reconnected', async () => {
    proxy = await TcpProxy.start(url);
    const queue = bed.queue();
    const server = bed.server({
      url: proxy.urlFor(url),
      queues: [{ name: queue, bindingKeys: [queue] }],
      reconnect: { intervalMs: 50, maxIntervalMs: 200 },
    });
    await server.start();
    proxy.refuse(true);
    proxy.cut();
    await until(() => !server.connected);
    let confirmed = false;
    const refusedBefore = proxy.refused;
    const pending = server.publish({ name: 'n', routingKey: queue }).then((uuid) => {
      confirmed = true;
      return uuid;
    });
    // The publish waits across reconnection attempts (two refused after it) instead of failing.
    await until(
      () => (proxy?.refused ?? 0) >= refusedBefore + 2,
      10_000,
      'two refused reconnection attempts',
    );
    expect(confirmed).toBe(false);
    proxy.refuse(false);
    const uuid = await pending;
    const [message] = await bed.waitForMessages(queue, 1);
    expect(JSON.parse(message!.content.toString()).uuid).toBe(uuid);
  });

  it('bounds waiting publishes: timeout, abort signal and a full buffer reject with codes', async () => {
    proxy = await TcpProxy.start(url);
    const server = bed.server({
      url: proxy.urlFor(url),
      maxBufferedPublishes: 2,
      reconnect: { intervalMs: 50, maxIntervalMs: 100 },
    });
    await server.start();
    proxy.refuse(true);
    proxy.cut();
    await until(() => !server.connected);
    const timedOut = server.publish({ name: 'n' }, { timeoutMs: 100 });
    const controller = new AbortController();
    const aborted = server.publish({ name: 'n' }, { signal: controller.signal });
    await expect(server.publish({ name: 'n' })).rejects.toMatchObject({ code: 'DSP_TASKS_BUFFER_FULL' });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'DSP_TASKS_ABORTED' });
    await expect(timedOut).rejects.toMatchObject({ code: 'DSP_TASKS_PUBLISH_TIMEOUT' });
    expect(server.stats().publishesOutstanding).toBe(0);
  });

  it('recovers from a channel closed by the broker (404: exchange deleted) and re-declares the topology', async () => {
    const queue = bed.queue();
    const log = recordingLogger();
    const server = bed.server({ queues: [{ name: queue, bindingKeys: [queue] }], logger: log.logger });
    const errors: unknown[] = [];
    server.on('error', (event) => errors.push(event.error));
    await server.start();
    await server.publish({ name: 'n', routingKey: queue });
    const channel = await bed.channel();
    await channel.deleteExchange(bed.exchange);
    // The first publish after the deletion closes the channel with 404; it is sent again on a new channel.
    await server.publish({ name: 'n', routingKey: queue });
    await server.publish({ name: 'n', routingKey: queue });
    expect(errors.some((err) => TasksError.hasCode(err, 'DSP_TASKS_BROKER'))).toBe(true);
    const broker = errors.find((err) => TasksError.hasCode(err, 'DSP_TASKS_BROKER')) as TasksError;
    expect(broker.details).toMatchObject({ replyCode: 404, level: 'channel' });
    // The same problem reached the logger, with its context.
    const logged = log.entries.filter((e) => e.level === 'error').map((e) => e.fields);
    expect(logged.some((fields) => fields.component === 'publisher' && fields.err === broker)).toBe(true);
    expect((await bed.drain(queue)).length).toBeGreaterThanOrEqual(3);
  });

  it('matches each return to its own publish when publishes in flight share a uuid', async () => {
    const queue = bed.queue();
    const server = bed.server({ queues: [{ name: queue, bindingKeys: [queue] }] });
    await server.start();
    // All in flight at once: a broker may send several returns before one `multiple` ack covering them all.
    const routable = Array.from({ length: 12 }, (_, i) => i % 3 !== 2);
    const results = await Promise.allSettled(
      routable.map((ok, i) =>
        server.publish({
          uuid: 'same-uuid',
          name: 'n',
          routingKey: ok ? queue : 'nobody-listens',
          args: [i],
        }),
      ),
    );
    results.forEach((result, i) => {
      if (routable[i]) expect(result).toMatchObject({ status: 'fulfilled', value: 'same-uuid' });
      else expect(result).toMatchObject({ status: 'rejected', reason: { code: 'DSP_TASKS_UNROUTABLE' } });
    });
    // Two alone: one routable, one not, in both orders.
    for (const order of [
      [queue, 'nobody-listens'],
      ['nobody-listens', queue],
    ]) {
      const pair = await Promise.allSettled(
        order.map((routingKey) => server.publish({ uuid: 'pair-uuid', name: 'n', routingKey, args: [-1] })),
      );
      expect(pair.map((r) => r.status)).toEqual(
        order.map((key) => (key === queue ? 'fulfilled' : 'rejected')),
      );
    }
    const stored = await bed.waitForMessages(queue, 10);
    const expected = [...routable.flatMap((ok, i) => (ok ? [i] : [])), -1, -1];
    expect(stored.map((m) => JSON.parse(m.content.toString()).args[0])).toEqual(expected);
  });

  it('rejects publishes still unconfirmed at the close() deadline with DSP_TASKS_CLOSED at once', async () => {
    proxy = await TcpProxy.start(url);
    const queue = bed.queue();
    const server = bed.server({ url: proxy.urlFor(url), queues: [{ name: queue, bindingKeys: [queue] }] });
    await server.start();
    proxy.silence(); // confirms (and close-ok) stop arriving
    const publishes = Array.from({ length: 20 }, () =>
      server.publish({ name: 'n', routingKey: queue }).then(
        () => 'confirmed',
        (err: unknown) => err,
      ),
    );
    const started = Date.now();
    const closing = server.close({ timeoutMs: 300 });
    const results = await Promise.race([Promise.all(publishes), sleep(10_000).then(() => 'hung' as const)]);
    expect(results).not.toBe('hung');
    for (const result of results as unknown[]) expect(result).toMatchObject({ code: 'DSP_TASKS_CLOSED' });
    // Well before the 30 s publish timeout they used to wait for (margin for a loaded machine).
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await Promise.race([closing.then(() => 'closed'), sleep(10_000).then(() => 'hung')])).toBe(
      'closed',
    );
    expect(server.stats().publishesOutstanding).toBe(0);
  });

  it('close() finishes within bounds when the broker stops answering, with a worker and a call() channel', async () => {
    proxy = await TcpProxy.start(url);
    const queue = bed.queue();
    const server = bed.server({ url: proxy.urlFor(url), queues: [{ name: queue, bindingKeys: [queue] }] });
    await server.start();
    const worker = server.newWorker({ name: `w-${queue}`, queue }, { echo: { fn: (x: unknown) => x } });
    worker.start();
    await until(() => worker.consuming);
    // Opens the RPC channel (direct reply-to consumer).
    expect(await server.call('echo', 'hi', { routingKey: queue })).toBe('hi');
    proxy.silence(); // no close-ok for any channel or the connection from now on
    const started = Date.now();
    const outcome = await Promise.race([
      server.close({ timeoutMs: 300 }).then(() => 'closed'),
      sleep(20_000).then(() => 'hung'),
    ]);
    expect(outcome).toBe('closed');
    // Worker cancel and channel close, RPC channel, publisher channel (1 s each) and connection (2 s): 6 s
    // of graces at most, run one after another; the margin is for a loaded machine. Without the bounds it
    // never finishes.
    expect(Date.now() - started).toBeLessThan(13_000);
  });

  it('settles publishes whose channel dies during close() at once instead of sending them again', async () => {
    proxy = await TcpProxy.start(url);
    const queue = bed.queue();
    const server = bed.server({
      url: proxy.urlFor(url),
      queues: [{ name: queue, bindingKeys: [queue] }],
      reconnect: { intervalMs: 50, maxIntervalMs: 100 },
    });
    await server.start();
    proxy.silence();
    const publishes = Array.from({ length: 20 }, () =>
      server.publish({ name: 'n', routingKey: queue }).then(
        () => 'confirmed',
        (err: unknown) => err,
      ),
    );
    const closing = server.close({ timeoutMs: 10_000 });
    // Every publish reached the broker (its confirm is what the silenced proxy holds back).
    await until(async () => (await bed.messageCount(queue)) === 20, 10_000, 'all 20 publishes at the broker');
    const cutAt = Date.now();
    proxy.cut(); // the channel dies with every confirm outstanding; the broker is reachable again at once
    const results = await Promise.race([Promise.all(publishes), sleep(5_000).then(() => 'hung' as const)]);
    expect(results).not.toBe('hung');
    for (const result of results as unknown[]) expect(result).toMatchObject({ code: 'DSP_TASKS_CLOSED' });
    expect(Date.now() - cutAt).toBeLessThan(4_000);
    await closing;
    expect(server.stats().publishesOutstanding).toBe(0);
  });

  it('destroy() rejects unconfirmed publishes with DSP_TASKS_CLOSED at once', async () => {
    proxy = await TcpProxy.start(url);
    const queue = bed.queue();
    const server = bed.server({ url: proxy.urlFor(url), queues: [{ name: queue, bindingKeys: [queue] }] });
    await server.start();
    proxy.silence();
    const settle = (p: Promise<string>) =>
      p.then(
        () => 'confirmed',
        (err: unknown) => err,
      );
    const inFlight = Array.from({ length: 20 }, () =>
      settle(server.publish({ name: 'n', routingKey: queue })),
    );
    // In flight: every publish reached the broker, its confirm held back by the silenced proxy.
    await until(async () => (await bed.messageCount(queue)) === 20, 10_000, 'all 20 publishes at the broker');
    const started = Date.now();
    server.destroy();
    const results = await Promise.race([Promise.all(inFlight), sleep(10_000).then(() => 'hung' as const)]);
    expect(results).not.toBe('hung');
    for (const result of results as unknown[]) expect(result).toMatchObject({ code: 'DSP_TASKS_CLOSED' });
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(server.stats().publishesOutstanding).toBe(0);
  });

  it('rejects bad tasks and calls after close with coded errors', async () => {
    const server = bed.server();
    await expect(server.publish({ name: 'n' })).rejects.toMatchObject({ code: 'DSP_TASKS_CLOSED' });
    await server.start();
    await expect(server.publish({ name: '' })).rejects.toMatchObject({ code: 'DSP_TASKS_INVALID_ARGUMENT' });
    await expect(server.publish({ name: 'n' }, { priority: 300 })).rejects.toMatchObject({
      code: 'DSP_TASKS_INVALID_ARGUMENT',
    });
    const closing = server.close();
    expect(server.close()).toBe(closing);
    await closing;
    await expect(server.publish({ name: 'n' })).rejects.toMatchObject({ code: 'DSP_TASKS_CLOSED' });
  });
});

/** A pino-shaped logger that hands every call to `sink` (child bindings merged in). */
