import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { seqOfMessageId } from '../src/proxy-message-id.js';
import { send, sink, startProxy, storedCount } from './helpers/start-proxy.js';

describe('forwarding', () => {
  it('forwards method, path, query, headers and a binary body byte-exact, after a durable 202', async () => {
    const dest = await sink();
    const proxy = await startProxy();
    const body = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) % 256));
    // node:http rather than fetch: fetch refuses to send a Connection header, and hop-by-hop handling is
    // part of what is tested here.
    const res = await new Promise<{ status: number; id: string; json: { id: string } }>((resolve, reject) => {
      const req = request(`${proxy.url}/orders/42/items?x=1&y=%20a&x=2`, {
        method: 'PUT',
        headers: {
          'x-dispatcher-origin-host': dest.url,
          'content-type': 'application/octet-stream',
          'x-custom': 'keep me',
          connection: 'keep-alive, x-hop',
          'x-hop': 'drop me',
          'x-dispatcher-timeout': '5000',
        },
      });
      req.on('response', (r) => {
        let text = '';
        r.on('data', (c: Buffer) => (text += c));
        r.on('end', () =>
          resolve({
            status: r.statusCode ?? 0,
            id: String(r.headers['x-dispatcher-message-id']),
            json: JSON.parse(text),
          }),
        );
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(res.status).toBe(202);
    const id = res.json.id;
    expect(res.id).toBe(id);
    expect(seqOfMessageId(id)).toBeGreaterThan(0);
    await dest.waitFor(1);
    const got = dest.received[0]!;
    expect(got.method).toBe('PUT');
    expect(got.url).toBe('/orders/42/items?x=1&y=%20a&x=2');
    expect(got.body.equals(body)).toBe(true);
    expect(got.headers['x-custom']).toBe('keep me');
    expect(got.headers['content-type']).toBe('application/octet-stream');
    expect(got.headers['x-hop']).toBeUndefined();
    expect(got.headers['x-dispatcher-origin-host']).toBeUndefined();
    expect(got.headers['x-dispatcher-timeout']).toBeUndefined();
    expect(got.headers['x-dispatcher-message-id']).toBe(id);
    expect(got.headers['x-dispatcher-attempt']).toBe('1');
    expect(got.headers.host).toBe(dest.host);
  });

  it('reads the destination from X-Dispatcher-Original-Host too, and a value without scheme means http', async () => {
    const dest = await sink();
    const proxy = await startProxy();
    expect((await send(proxy, '/a', { headers: { 'x-dispatcher-original-host': dest.host } })).status).toBe(
      202,
    );
    expect(
      (
        await send(proxy, '/b', {
          method: 'GET',
          headers: { 'x-dispatcher-origin-host': `${dest.url}/base` },
        })
      ).status,
    ).toBe(202);
    await dest.waitFor(2);
    expect(dest.received.map((r) => `${r.method} ${r.url}`).sort()).toEqual(['GET /base/b', 'POST /a']);
  });

  it('proxies a request that carries a destination header even under the admin prefix', async () => {
    const dest = await sink();
    const proxy = await startProxy();
    const res = await send(proxy, '/_dispatcher/health', {
      method: 'GET',
      headers: { 'x-dispatcher-origin-host': dest.url },
    });
    expect(res.status).toBe(202);
    await dest.waitFor(1);
    expect(dest.received[0]!.url).toBe('/_dispatcher/health');
  });

  it('answers bad input with a clear JSON error and stores nothing', async () => {
    const dest = await sink();
    const proxy = await startProxy({ maxBodyBytes: 1024 });
    const missing = await send(proxy, '/x', { body: 'hi' });
    expect(missing.status).toBe(400);
    expect(missing.json.error).toBe('missing_destination');
    expect(String(missing.json.message)).toContain('X-Dispatcher-Origin-Host');
    const bad = await send(proxy, '/x', { headers: { 'x-dispatcher-origin-host': 'ftp://nope' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('invalid_destination');
    const badTimeout = await send(proxy, '/x', {
      headers: { 'x-dispatcher-origin-host': dest.url, 'x-dispatcher-timeout': 'soon' },
    });
    expect(badTimeout.status).toBe(400);
    expect(String(badTimeout.json.message)).toContain('X-Dispatcher-Timeout');
    const big = await send(proxy, '/x', {
      headers: { 'x-dispatcher-origin-host': dest.url, 'content-type': 'text/plain' },
      body: 'x'.repeat(2048),
    });
    expect(big.status).toBe(413);
    expect(big.json.error).toBe('payload_too_large');
    expect(await storedCount(proxy)).toBe(0);
  });

  it('answers 413 to a large body, declared or streamed, instead of resetting the connection', async () => {
    const dest = await sink();
    const proxy = await startProxy({ maxBodyBytes: 64 * 1024 });
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    const post = (chunked: boolean) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${proxy.url}/big`, {
          method: 'POST',
          headers: {
            'x-dispatcher-origin-host': dest.url,
            ...(chunked ? {} : { 'content-length': String(big.length) }),
          },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        // Written in pieces, as a client streaming a file would.
        let offset = 0;
        const next = () => {
          while (offset < big.length) {
            const piece = big.subarray(offset, offset + 256 * 1024);
            offset += piece.length;
            if (!req.write(piece)) return void req.once('drain', next);
          }
          req.end();
        };
        next();
      });
    for (let i = 0; i < 3; i++) {
      expect(await post(false)).toBe(413);
      expect(await post(true)).toBe(413);
    }
    expect(await storedCount(proxy)).toBe(0);
  });

  it('refuses loopback and private destinations by default (no open relay), allows what is configured', async () => {
    const dest = await sink();
    const strict = await startProxy({ allowedDestinations: undefined });
    for (const host of [dest.url, 'http://10.1.2.3', 'http://localhost:9', 'http://169.254.169.254']) {
      const res = await send(strict, '/x', { headers: { 'x-dispatcher-origin-host': host } });
      expect(res.status, host).toBe(403);
      expect(res.json.error).toBe('destination_not_allowed');
    }
    const scoped = await startProxy({ allowedDestinations: [dest.host] });
    expect((await send(scoped, '/x', { headers: { 'x-dispatcher-origin-host': dest.url } })).status).toBe(
      202,
    );
    expect(
      (await send(scoped, '/x', { headers: { 'x-dispatcher-origin-host': 'http://127.0.0.1:1' } })).status,
    ).toBe(403);
  });
});
