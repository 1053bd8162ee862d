import { appendFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { DurableLog } from '@dispatcher/core';
import { describe, expect, it, vi } from 'vitest';
import { seqOfMessageId } from '../src/proxy-message-id.js';
import { ProxyStore } from '../src/store/proxy-store.js';
import {
  eventually,
  onCleanup,
  STORE,
  send,
  sink,
  sleep,
  startProxy,
  tempDir,
} from './helpers/start-proxy.js';

// Tests of the embedded log itself (its files, lock and recovery scan) have no fleet-mode counterpart.
const embeddedOnly = it.skipIf(STORE === 'postgres');

describe('recovery and operation', () => {
  it('re-delivers every undelivered request in original order after a restart', async () => {
    const dataDir = tempDir();
    const dest = await sink();
    dest.behave = () => ({ kind: 'hang' });
    const first = await startProxy({
      dataDir,
      workers: 1,
      perDestinationConcurrency: 1,
      shutdownTimeoutMs: 50,
    });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++)
      ids.push(
        (await send(first, `/n${i}`, { headers: { 'x-dispatcher-origin-host': dest.url }, body: `b${i}` }))
          .json.id as string,
      );
    await dest.waitFor(1);
    await first.close(); // the hung attempt is cut short: it stays pending, its outcome unrecorded

    const second = await startProxy({ dataDir, workers: 1, perDestinationConcurrency: 1 });
    dest.behave = () => ({ kind: 'status', status: 200 });
    await dest.waitFor(31, 10_000);
    const redelivered = dest.received.slice(1);
    expect(redelivered.map((r) => r.url)).toEqual(ids.map((_, i) => `/n${i}`));
    expect(redelivered.map((r) => r.headers['x-dispatcher-message-id'])).toEqual(ids);
    // The destination saw attempt 1 of /n0 before it was cut off: the next one is attempt 2.
    expect(redelivered.map((r) => r.headers['x-dispatcher-attempt'])).toEqual(
      ids.map((_, i) => (i === 0 ? '2' : '1')),
    );
    await eventually(() => second.engine.backlog === 0);
  });

  it('continues a retry schedule across a restart', async () => {
    const dataDir = tempDir();
    const dest = await sink();
    dest.behave = (_r, i) => ({ kind: 'status', status: i < 2 ? 500 : 200 });
    const first = await startProxy({
      dataDir,
      retryBaseMs: 600,
      retryMaxMs: 600,
      retryBackoff: 'exponential',
    });
    const { json } = await send(first, '/r', { headers: { 'x-dispatcher-origin-host': dest.url } });
    await dest.waitFor(1);
    // The failed attempt is recorded (its retry scheduled) before the restart. A loaded machine may poll
    // past the next attempts (600 ms apart): the numbering must continue across the restart either way.
    await eventually(async () => {
      const state = (await send(first, `/_dispatcher/messages/${json.id}`, { method: 'GET' })).json;
      return Number(state.attempts) >= 1;
    });
    await first.close();
    const second = await startProxy({ dataDir, retryBaseMs: 600, retryMaxMs: 600 });
    await dest.waitFor(3, 5000);
    expect(dest.received.map((r) => r.headers['x-dispatcher-attempt'])).toEqual(['1', '2', '3']);
    await eventually(() => second.engine.backlog === 0);
  });

  embeddedOnly(
    'keeps retry state that deliveries create while recovery is still reading the log',
    async () => {
      const dataDir = tempDir();
      const dest = await sink();
      dest.behave = (r) => ({ kind: 'status', status: r.url === '/m0' ? 500 : 200 });
      const store = await ProxyStore.open({ dir: dataDir });
      const now = Date.now();
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        const accepted = await store.accept(
          (id) => ({
            message: { id, body: Buffer.from(`b${i}`), headers: {}, attempt: 0, createdAt: now },
            method: 'POST',
            target: `${dest.url}/m${i}`,
          }),
          now,
        );
        ids.push(accepted.id);
      }
      await store.close();
      // A slow read stands in for a large backlog: deliveries (and /m0's failures) overlap recovery. Once
      // the pass that schedules requests (the second over the main log) has handed over /m0's record, the
      // read waits for its first attempt to arrive, so the overlap does not depend on how fast a busy
      // machine gets there.
      const m0 = () => dest.received.filter((r) => r.url === '/m0');
      const m0Target = Buffer.from(`${dest.url}/m0`);
      let m0Reads = 0;
      const live = DurableLog.prototype.live;
      const slow = vi.spyOn(DurableLog.prototype, 'live').mockImplementation(async function* (
        this: DurableLog,
        options,
      ) {
        for await (const rec of live.call(this, options)) {
          await sleep(5);
          yield rec;
          if (rec.body.includes(m0Target) && ++m0Reads === 2)
            await eventually(() => m0().length >= 1, 10_000);
        }
      });
      onCleanup(async () => slow.mockRestore());
      const opts = {
        dataDir,
        workers: 1,
        perDestinationConcurrency: 1,
        failureThreshold: 1000,
        retryLimit: 1000,
        retryBaseMs: 20,
        retryMaxMs: 40,
      };
      const first = await startProxy(opts);
      slow.mockRestore();
      const failedDuringRecovery = m0().length;
      expect(failedDuringRecovery).toBeGreaterThanOrEqual(1);
      await eventually(() => m0().length >= failedDuringRecovery + 3);
      await first.close();
      const attempts = m0().map((r) => Number(r.headers['x-dispatcher-attempt']));
      expect(attempts).toEqual(attempts.map((_, i) => i + 1));
      // The attempt record is in the log too: a restart continues the count.
      const seq = seqOfMessageId(ids[0] as string) as number;
      dest.behave = () => ({ kind: 'status', status: 200 });
      const second = await startProxy({ ...opts, retryBaseMs: 20, retryMaxMs: 20 });
      expect(second.store.attemptState(seq)?.attempt).toBe(attempts.length);
      await eventually(() => m0().length === attempts.length + 1);
      expect(m0().at(-1)?.headers['x-dispatcher-attempt']).toBe(String(attempts.length + 1));
    },
  );

  embeddedOnly(
    'finishes a redrive that a crash interrupted, keeping one letter or one copy per message id',
    async () => {
      const dir = tempDir();
      const now = Date.now();
      const info = { reason: 'status-500', attempts: 1, deadAt: now, host: '127.0.0.1:9' };
      let store = await ProxyStore.open({ dir });
      const ids: string[] = [];
      for (const path of ['/pending-copy', '/dead-again']) {
        const { seq, id, request } = await store.accept(
          (id) => ({
            message: { id, body: Buffer.from(path), headers: {}, attempt: 0, createdAt: now },
            method: 'POST',
            target: `http://127.0.0.1:9${path}`,
          }),
          now,
        );
        await store.deadLetter(seq, request, info);
        ids.push(id);
      }
      // Both redriven; the crash comes before the letters' acks. The second copy failed again first.
      const copies = [];
      for await (const l of store.deadLetters()) {
        copies.push(await store.accept(() => ({ ...l.request, redriveOf: l.seq }), now));
      }
      expect(copies.map((c) => c.id)).toEqual(ids);
      await store.deadLetter(copies[1]!.seq, copies[1]!.request, { ...info, attempts: 2 });
      await store.close();

      store = await ProxyStore.open({ dir });
      const pending: string[] = [];
      await store.recover(now, (p) => pending.push(p.request.message.id));
      expect(pending).toEqual([ids[0]]);
      expect(store.seqOf(ids[0]!)).toBe(copies[0]!.seq);
      const letters = [];
      for await (const l of store.deadLetters()) letters.push([l.request.message.id, l.info.attempts]);
      expect(letters).toEqual([[ids[1], 2]]);
      expect(store.deadLetterCount).toBe(1);
      await store.close();
    },
  );

  embeddedOnly('refuses a second instance on the same data directory with a clear error', async () => {
    const dataDir = tempDir();
    await startProxy({ dataDir });
    await expect(startProxy({ dataDir })).rejects.toMatchObject({ code: 'DSP_CORE_LOG_LOCKED' });
  });

  it('delivers nothing and releases the data directory when it cannot listen', async () => {
    const dataDir = tempDir();
    const dest = await sink();
    dest.behave = () => ({ kind: 'status', status: 503 });
    const first = await startProxy({ dataDir, retryBaseMs: 50, retryMaxMs: 50, shutdownTimeoutMs: 10 });
    await send(first, '/pending', { headers: { 'x-dispatcher-origin-host': dest.url } });
    await dest.waitFor(1);
    await first.close();
    // The port is taken, so start() fails after recovery has queued the pending request.
    const blocker = await startProxy();
    const port = Number(new URL(blocker.url).port);
    await expect(startProxy({ dataDir, port, retryBaseMs: 50, retryMaxMs: 50 })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
    const seen = dest.received.length;
    dest.behave = () => ({ kind: 'status', status: 200 });
    const third = await startProxy({ dataDir });
    await eventually(() => dest.received.some((r, i) => i >= seen && r.url === '/pending'));
    await eventually(() => third.engine.backlog === 0);
    // The working start's delivery is the only one since the failed start: that start sent nothing.
    expect(dest.received.length - seen, 'deliveries after a failed start').toBe(1);
  });

  embeddedOnly('repairs a torn log tail at start-up and says so', async () => {
    const dataDir = tempDir();
    const dest = await sink();
    dest.behave = () => ({ kind: 'hang' });
    const first = await startProxy({ dataDir, shutdownTimeoutMs: 10 });
    await send(first, '/keep', { headers: { 'x-dispatcher-origin-host': dest.url } });
    await first.close();
    const seg = readdirSync(dataDir).find((f) => f.endsWith('.seg')) as string;
    appendFileSync(join(dataDir, seg), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
    const warnings: string[] = [];
    const logger = {
      trace() {},
      debug() {},
      info() {},
      warn(...args: unknown[]) {
        warnings.push(String(args[1] ?? args[0]));
      },
      error() {},
      fatal() {},
      child() {
        return logger;
      },
    };
    dest.behave = () => ({ kind: 'status', status: 200 });
    const second = await startProxy({ dataDir, logger });
    expect(second.store.main.recovery.truncated).toHaveLength(1);
    expect(warnings.some((w) => w.includes('repaired'))).toBe(true);
    await eventually(() =>
      dest.received.some(
        (r) => r.url === '/keep' && r.headers['x-dispatcher-attempt'] === '1' && dest.received.length >= 2,
      ),
    );
  });

  embeddedOnly(
    'loses nothing and re-sends nothing acknowledged across a restart in event-sourcing mode, and keeps the history',
    async () => {
      const dataDir = tempDir();
      const dest = await sink();
      const first = await startProxy({ dataDir, eventSourcing: true });
      for (let i = 0; i < 5; i++)
        await send(first, `/e${i}`, { headers: { 'x-dispatcher-origin-host': dest.url } });
      await dest.waitFor(5);
      await eventually(() => first.engine.backlog === 0);
      await first.close();
      const second = await startProxy({ dataDir, eventSourcing: true });
      // A request sent after the restart: once it is delivered and nothing is left, the replay is done.
      await send(second, '/after', { headers: { 'x-dispatcher-origin-host': dest.url } });
      await dest.waitFor(6);
      await eventually(() => second.engine.backlog === 0);
      expect(dest.received.map((r) => r.url)).toEqual(['/e0', '/e1', '/e2', '/e3', '/e4', '/after']);
      let records = 0;
      for await (const e of second.store.main.replay()) if (e.kind === 'record') records++;
      expect(records).toBeGreaterThanOrEqual(5);
    },
  );

  it('protects the admin API with a bearer token and serves health, readiness and metrics', async () => {
    const dest = await sink();
    const proxy = await startProxy({ adminToken: 's3cret' });
    const { json } = await send(proxy, '/m', { headers: { 'x-dispatcher-origin-host': dest.url } });
    await dest.waitFor(1);
    expect((await send(proxy, `/_dispatcher/messages/${json.id}`, { method: 'GET' })).status).toBe(401);
    const auth = { authorization: 'Bearer s3cret' };
    await eventually(
      async () =>
        (await send(proxy, `/_dispatcher/messages/${json.id}`, { method: 'GET', headers: auth })).json
          .status === 'delivered',
    );
    expect((await send(proxy, '/_dispatcher/health', { method: 'GET' })).json.status).toBe('ok');
    expect((await send(proxy, '/_dispatcher/ready', { method: 'GET' })).status).toBe(200);
    const metrics = await fetch(`${proxy.url}/_dispatcher/metrics`, { headers: auth });
    const text = await metrics.text();
    expect(text).toMatch(/dispatcher_accepted_total 1/);
    expect(text).toMatch(/dispatcher_delivered_total 1/);
    expect(text).toMatch(/dispatcher_delivery_duration_seconds_bucket\{.*destination="127\.0\.0\.1/);
    expect(
      (await send(proxy, '/_dispatcher/messages/not-an-id', { method: 'GET', headers: auth })).status,
    ).toBe(404);
    const list = await send(proxy, '/_dispatcher/messages?limit=0', { method: 'GET', headers: auth });
    expect(list.status).toBe(400);
  });

  it('lists pending messages with filters', async () => {
    const dest = await sink();
    dest.behave = () => ({ kind: 'hang' });
    const proxy = await startProxy({ workers: 1, perDestinationConcurrency: 1 });
    for (let i = 0; i < 4; i++)
      await send(proxy, `/p${i}`, { headers: { 'x-dispatcher-origin-host': dest.url } });
    await dest.waitFor(1);
    const res = await send(proxy, '/_dispatcher/messages?limit=2', { method: 'GET' });
    const items = res.json.items as Array<{ status: string; target: string }>;
    expect(items.map((i) => [i.status, i.target])).toEqual([
      ['delivering', `${dest.url}/p0`],
      ['pending', `${dest.url}/p1`],
    ]);
    const page2 = await send(proxy, `/_dispatcher/messages?limit=5&cursor=${res.json.next}`, {
      method: 'GET',
    });
    expect((page2.json.items as unknown[]).length).toBe(2);
    const none = await send(proxy, '/_dispatcher/messages?host=elsewhere:1', { method: 'GET' });
    expect(none.json.items).toEqual([]);
  });

  it('cuts off a request still being uploaded at the shutdown deadline', async () => {
    const dest = await sink();
    const proxy = await startProxy({ shutdownTimeoutMs: 300 });
    const { port } = new URL(proxy.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.on('error', () => {});
    const cut = new Promise((r) => socket.once('close', r));
    // Headers and a tenth of the announced body, then nothing: a stalled upload.
    socket.write(
      `POST /slow HTTP/1.1\r\nHost: x\r\nX-Dispatcher-Origin-Host: ${dest.url}\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(100)}`,
    );
    await sleep(100);
    const t0 = Date.now();
    await proxy.close();
    expect(Date.now() - t0).toBeLessThan(5000); // without the deadline it never finishes
    await cut;
    expect(dest.received.length).toBe(0);
  });

  it('finishes attempts in flight on graceful shutdown and refuses new requests meanwhile', async () => {
    const dataDir = tempDir();
    const dest = await sink();
    dest.behave = () => ({ kind: 'delay', ms: 400, status: 200 });
    const proxy = await startProxy({ dataDir, shutdownTimeoutMs: 5000 });
    await send(proxy, '/slow', { headers: { 'x-dispatcher-origin-host': dest.url } });
    await dest.waitFor(1);
    const started = Date.now();
    await proxy.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await expect(fetch(`${proxy.url}/_dispatcher/health`)).rejects.toThrow();
    // Delivered before the close finished: a restart has nothing left to send.
    const again = await startProxy({ dataDir });
    expect(again.engine.backlog).toBe(0);
    // A request sent after the restart arrives second: nothing of the first run was sent again before it.
    await send(again, '/after', { headers: { 'x-dispatcher-origin-host': dest.url } });
    await dest.waitFor(2);
    await eventually(() => again.engine.backlog === 0);
    expect(dest.received.map((r) => r.url)).toEqual(['/slow', '/after']);
  });

  embeddedOnly(
    'reports and skips an undecodable stored request at start-up, and answers 404 for ids of other records',
    async () => {
      const dataDir = tempDir();
      const dest = await sink();
      const first = await startProxy({ dataDir });
      // A checksummed record of the request type whose body is not a request.
      await first.store.main.append(Buffer.from('not a request'), { type: 1 });
      const idem = await send(first, '/k', {
        headers: { 'x-dispatcher-origin-host': dest.url, 'x-dispatcher-idempotency-key': 'k1' },
      });
      await dest.waitFor(1);
      await first.close();
      const second = await startProxy({ dataDir });
      expect(second.store.undecodable).toEqual([1]);
      expect(second.store.main.has(1)).toBe(true);
      // The idempotency record lives right after the request: an id pointing at it is not a message.
      const { proxyMessageId, seqOfMessageId } = await import('../src/proxy-message-id.js');
      const fake = proxyMessageId((seqOfMessageId(idem.json.id as string) as number) + 1, Date.now());
      expect((await send(second, `/_dispatcher/messages/${fake}`, { method: 'GET' })).status).toBe(404);
    },
  );
});
