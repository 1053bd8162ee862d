import { describe, expect, it } from 'vitest';
import { rawRequest } from './helpers/raw-http.js';
import { send, sink, startProxy, to } from './helpers/start-proxy.js';

describe('request forms the proxy cannot store', () => {
  const cases: Array<{ name: string; request: (dest: string) => string; status: number; error: string }> = [
    {
      name: 'absolute-form target with a destination header',
      request: (dest) =>
        `POST http://example.com/x HTTP/1.1\r\nHost: example.com\r\nX-Dispatcher-Origin-Host: ${dest}\r\nContent-Length: 2\r\n\r\nhi`,
      status: 400,
      error: 'invalid_request_target',
    },
    {
      name: 'absolute-form target without one',
      request: () => 'GET http://example.com/_dispatcher/health HTTP/1.1\r\nHost: example.com\r\n\r\n',
      status: 400,
      error: 'invalid_request_target',
    },
    {
      name: 'OPTIONS *',
      request: (dest) => `OPTIONS * HTTP/1.1\r\nHost: x\r\nX-Dispatcher-Origin-Host: ${dest}\r\n\r\n`,
      status: 400,
      error: 'invalid_request_target',
    },
    {
      name: 'CONNECT',
      request: (dest) =>
        `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nX-Dispatcher-Origin-Host: ${dest}\r\n\r\n`,
      status: 501,
      error: 'connect_not_supported',
    },
    {
      name: 'a WebSocket upgrade',
      request: (dest) =>
        `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Dispatcher-Origin-Host: ${dest}\r\n\r\n`,
      status: 501,
      error: 'upgrade_not_supported',
    },
    {
      name: 'an h2c upgrade',
      request: (dest) =>
        `POST /h2 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nX-Dispatcher-Origin-Host: ${dest}\r\nContent-Length: 2\r\n\r\nhi`,
      status: 501,
      error: 'upgrade_not_supported',
    },
    {
      name: 'an upgrade to the admin API',
      request: () =>
        'GET /_dispatcher/health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      status: 501,
      error: 'upgrade_not_supported',
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.name} with ${c.status} and a JSON error, and stores nothing`, async () => {
      const dest = await sink();
      const proxy = await startProxy();
      const res = await rawRequest(proxy.url, c.request(dest.url));
      expect(res.status, res.raw).toBe(c.status);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const json = JSON.parse(res.body) as { error: string; message: string };
      expect(json.error).toBe(c.error);
      expect(json.message).toMatch(/not supported/);
      expect(proxy.store.main.liveCount).toBe(0);
      expect(proxy.engine.backlog).toBe(0);
      const metrics = await fetch(`${proxy.url}/_dispatcher/metrics`).then((r) => r.text());
      expect(metrics).toContain(`dispatcher_rejected_total{reason="${c.error}"} 1`);
      // The listener still serves ordinary requests.
      expect((await send(proxy, '/after', to(dest))).status).toBe(202);
      await dest.waitFor(1);
      expect(dest.received.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /after']);
    });
  }
});
