/**
 * The delivery threads on their own, against a real local receiver: answers, errors with their codes,
 * aborts, a destination the policy refuses, and calls cut off by closing the pool.
 */
import { noopLogger } from '@dispatcher/core';
import { afterEach, describe, expect, it } from 'vitest';
import { AttemptSignal } from '../src/delivery/attempt-signal.js';
import { DeliveryThreads } from '../src/delivery/delivery-threads.js';
import { ProxyError } from '../src/errors.js';
import { Sink } from './helpers/sink.js';

const pools: DeliveryThreads[] = [];
const sinks: Sink[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
  for (const s of sinks.splice(0)) await s.close();
});

async function setup(threads = 2, allowed: string[] = ['127.0.0.1']) {
  const sink = new Sink();
  await sink.start();
  sinks.push(sink);
  const pool = new DeliveryThreads({
    threads,
    allowedDestinations: allowed,
    connections: 8,
    logger: noopLogger,
  });
  pools.push(pool);
  return { sink, pool };
}

const call = (origin: string, path = '/x', body = 'hello') => ({
  origin,
  path,
  method: 'POST',
  headers: { 'content-type': 'text/plain', 'x-dispatcher-message-id': 'm1' },
  body: Buffer.from(body),
  timeoutMs: 10_000,
});

describe('DeliveryThreads', () => {
  it('makes calls on the threads and reports status and Retry-After', async () => {
    const { sink, pool } = await setup();
    sink.behave = (_r, i) =>
      i % 2 === 0
        ? { kind: 'status', status: 200 }
        : { kind: 'status', status: 503, headers: { 'retry-after': '7' } };
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        pool.request(call(sink.url, `/p/${i}?q=1`, `body-${i}`), new AttemptSignal()),
      ),
    );
    expect(sink.received).toHaveLength(20);
    const bodies = sink.received.map((r) => `${r.url} ${r.body.toString()}`).sort();
    expect(bodies).toEqual(Array.from({ length: 20 }, (_, i) => `/p/${i}?q=1 body-${i}`).sort());
    expect(sink.received[0]?.headers['x-dispatcher-message-id']).toBe('m1');
    const statuses = answers.map((a) => ('status' in a ? a.status : 0));
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(answers.filter((a) => 'status' in a && a.status === 503 && a.retryAfter === '7')).toHaveLength(10);
  });

  it('reports a refused connection as an error that keeps its code', async () => {
    const { sink, pool } = await setup(1);
    const url = sink.url;
    await sink.close();
    sinks.length = 0;
    const a = await pool.request(call(url), new AttemptSignal());
    expect('error' in a && (a.error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('refuses destinations the policy does not allow, in the thread', async () => {
    const { sink, pool } = await setup(1, ['example.invalid']);
    const a = await pool.request(call(sink.url), new AttemptSignal());
    expect('error' in a).toBe(true);
    expect(sink.received).toHaveLength(0);
  });

  it('answers an abort at once with its reason, and the thread drops the call', async () => {
    const { sink, pool } = await setup(1);
    sink.behave = () => ({ kind: 'hang' });
    const signal = new AttemptSignal();
    const answer = pool.request(call(sink.url), signal);
    await sink.waitFor(1);
    signal.abort(new Error('stop'));
    const a = await answer;
    expect('error' in a && a.error.message).toBe('stop');
    expect(pool.inflight).toBe(0);
  });

  it('rejects the calls of a closed pool with DSP_PROXY_DELIVERY_THREAD or DSP_PROXY_CLOSED', async () => {
    const { sink, pool } = await setup(1);
    sink.behave = () => ({ kind: 'hang' });
    // Its outcome is taken before the close, which settles it.
    const settled = pool.request(call(sink.url), new AttemptSignal()).then(
      () => undefined,
      (e: unknown) => e,
    );
    await sink.waitFor(1);
    await pool.close();
    const err = await settled;
    expect(ProxyError.hasCode(err, 'DSP_PROXY_DELIVERY_THREAD')).toBe(true);
    await expect(pool.request(call(sink.url), new AttemptSignal())).rejects.toMatchObject({
      code: 'DSP_PROXY_CLOSED',
    });
  });
});
