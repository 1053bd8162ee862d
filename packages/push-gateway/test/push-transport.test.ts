import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { UndiciPushTransport } from '../src/push/push-transport.js';

describe('UndiciPushTransport', () => {
  it('reaches private addresses by default, refuses link-local, and an allow-list narrows it', async () => {
    const server = createServer((_req, res) => res.end('{"status":1}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const open = new UndiciPushTransport();
    const narrowed = new UndiciPushTransport({ allowedDestinations: ['127.0.0.1:1'] });
    try {
      const res = await open.send({
        url: `http://127.0.0.1:${port}/x`,
        body: 'a=1',
        headers: {},
        timeoutMs: 5_000,
      });
      expect(res).toMatchObject({ status: 200, body: '{"status":1}' });
      await expect(
        open.send({ url: 'http://169.254.169.254/', body: '', headers: {}, timeoutMs: 5_000 }),
      ).rejects.toMatchObject({
        code: 'DSP_PUSH_DESTINATION_REFUSED',
      });
      await expect(
        narrowed.send({ url: `http://127.0.0.1:${port}/x`, body: '', headers: {}, timeoutMs: 5_000 }),
      ).rejects.toMatchObject({ code: 'DSP_PUSH_DESTINATION_REFUSED' });
    } finally {
      await open.close();
      await narrowed.close();
      server.close();
    }
  });

  it('times out a subscriber that never answers', async () => {
    const server = createServer(() => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const t = new UndiciPushTransport();
    try {
      await expect(
        t.send({ url: `http://127.0.0.1:${port}/`, body: '', headers: {}, timeoutMs: 300 }),
      ).rejects.toMatchObject({
        code: 'DSP_PUSH_HTTP_TIMEOUT',
      });
    } finally {
      await t.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
