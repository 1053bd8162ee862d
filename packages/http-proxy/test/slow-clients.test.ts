import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closed, parseResponse, rawSocket } from './helpers/raw-http.js';
import { eventually, onCleanup, send, sink, startProxy, to } from './helpers/start-proxy.js';

/** Writes `piece` to every socket every `everyMs` until the socket closes: a slowloris client. */
function trickle(sockets: Socket[], piece: string, everyMs: number): void {
  const open = new Set(sockets);
  for (const s of sockets) s.once('close', () => open.delete(s));
  const timer = setInterval(() => {
    for (const s of open) s.write(piece);
    if (open.size === 0) clearInterval(timer);
  }, everyMs);
  onCleanup(async () => {
    clearInterval(timer);
    for (const s of sockets) s.destroy();
  });
}

/** `promise`, or a rejection naming `what` after `ms` (so a missing timeout fails instead of hanging). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('slow clients', () => {
  it('closes a connection that sends its headers slower than headersTimeoutMs, and serves others meanwhile', async () => {
    const dest = await sink();
    // 2 s: the normal request below (a new connection, a durable append) must be answered before the cut,
    // even on a busy machine.
    const proxy = await startProxy({ headersTimeoutMs: 2_000, requestTimeoutMs: 4_000 });
    const slow = await rawSocket(proxy.url);
    const t0 = Date.now();
    const cut = closed(slow);
    slow.write(`POST /slow HTTP/1.1\r\nHost: x\r\nX-Dispatcher-Origin-Host: ${dest.url}\r\n`);
    trickle([slow], 'X-Pad: a\r\n', 50);
    // A normal request while the slow one is still sending headers.
    expect((await send(proxy, '/fast', to(dest))).status).toBe(202);
    expect(slow.destroyed).toBe(false);
    const res = parseResponse(await within(cut, 10_000, 'closing the slow connection'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_900);
    expect(res.status).toBe(408);
    await dest.waitFor(1);
    expect(dest.received.map((r) => r.url)).toEqual(['/fast']);
    // The receiver has the request before the proxy has settled it: wait for the settle.
    await eventually(() => proxy.store.main.liveCount + proxy.engine.backlog === 0);
  });

  it('closes a connection that sends nothing at all once headersTimeoutMs has passed', async () => {
    const proxy = await startProxy({ headersTimeoutMs: 300, requestTimeoutMs: 2_000 });
    const idle = await rawSocket(proxy.url);
    expect(parseResponse(await within(closed(idle), 5_000, 'closing the idle connection')).status).toBe(408);
  });

  it('closes an upload slower than requestTimeoutMs and stores nothing of it', async () => {
    const dest = await sink();
    const proxy = await startProxy({ headersTimeoutMs: 200, requestTimeoutMs: 600 });
    const slow = await rawSocket(proxy.url);
    const t0 = Date.now();
    const cut = closed(slow);
    // Headers at once (well within headersTimeoutMs), then the body a byte at a time.
    slow.write(
      `POST /upload HTTP/1.1\r\nHost: x\r\nX-Dispatcher-Origin-Host: ${dest.url}\r\nContent-Length: 1000\r\n\r\n`,
    );
    trickle([slow], 'x', 50);
    const res = parseResponse(await within(cut, 5_000, 'closing the slow upload'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    expect(res.status).toBe(408);
    expect((await send(proxy, '/after', to(dest))).status).toBe(202);
    await dest.waitFor(1);
    expect(dest.received.map((r) => r.url)).toEqual(['/after']);
  });

  it('keeps serving normal clients while hundreds of connections trickle, and closes every one of them', async () => {
    const dest = await sink();
    const proxy = await startProxy({ headersTimeoutMs: 6_000, requestTimeoutMs: 6_000 });
    const sockets = await Promise.all(Array.from({ length: 300 }, () => rawSocket(proxy.url)));
    const cuts = sockets.map((s) => closed(s));
    for (const s of sockets) s.write('GET /loris HTTP/1.1\r\nHost: x\r\n');
    trickle(sockets, 'X-Pad: a\r\n', 100);
    for (let i = 0; i < 10; i++) expect((await send(proxy, `/n${i}`, to(dest))).status).toBe(202);
    const admin = await send(proxy, '/_dispatcher/health', { method: 'GET' });
    expect(admin.json.status).toBe('ok');
    // All of them were still open while the normal clients were served (6 s leaves a busy machine room)...
    expect(sockets.filter((s) => s.destroyed)).toEqual([]);
    // ...and the server closes every one of them.
    const answers = await within(Promise.all(cuts), 15_000, 'closing every trickling connection');
    expect(answers.map((a) => parseResponse(a).status)).toEqual(answers.map(() => 408));
    await dest.waitFor(10);
  });
});
