import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fillFileSystem, mountTmpfs } from '@dispatcher/tooling';
import { afterAll, describe, expect, it } from 'vitest';
import { launch } from './helpers/launch.js';

// The outside check's scenario: a 16 MiB tmpfs holding TRANSACTION_LOG and DEAD_LETTER, a 12 MiB filler,
// MIN_FREE_DISK_BYTES=0, 256 KiB bodies delayed by 10 minutes.
const mount = await mountTmpfs(16 * 1024 * 1024);
if (!mount.ok) console.warn(`[http-dispatcher full-disk test] skipped: ${mount.reason}`);
afterAll(async () => {
  if (mount.ok) await mount.tmpfs.unmount();
});

const BODY = Buffer.alloc(256 * 1024, 'x');

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!mount.ok)('http-dispatcher on a disk that fills up', () => {
  it('loses no 202, answers 503 while full, resumes without a restart, and does not deliver twice', async () => {
    if (!mount.ok) return;
    const root = mount.tmpfs.dir;
    // A receiver that holds its answers until released, counting deliveries per message id.
    const deliveries = new Map<string, number>();
    const held: ServerResponse[] = [];
    let holding = true;
    const sink = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const id = String(req.headers['x-dispatcher-message-id']);
        deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
        if (holding) held.push(res);
        else res.end('ok');
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const sinkHost = `127.0.0.1:${(sink.address() as AddressInfo).port}`;
    const env = {
      LISTEN: '127.0.0.1:0',
      TRANSACTION_LOG: join(root, 'log'),
      DEAD_LETTER: join(root, 'dead'),
      ALLOWED_DESTINATIONS: '127.0.0.1',
      MIN_FREE_DISK_BYTES: '0',
    };
    writeFileSync(join(root, 'filler'), Buffer.alloc(12 * 1024 * 1024));
    let app = launch([], env);
    try {
      let url = await app.listening();
      const post = (delayed: boolean) =>
        fetch(`${url}/in`, {
          method: 'POST',
          headers: {
            'x-dispatcher-origin-host': sinkHost,
            ...(delayed ? { 'x-dispatcher-delay': '600000' } : {}),
          },
          body: BODY,
        });
      const ready = async () => (await fetch(`${url}/_dispatcher/ready`)).status;

      // Five requests delivered at once; the receiver holds its answers (the acks come later).
      const immediate: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await post(false);
        expect(res.status).toBe(202);
        immediate.push(((await res.json()) as { id: string }).id);
      }
      await until(async () => (held.length === 5 ? true : undefined), 'five held deliveries');

      // Fill the disk with delayed requests until the store refuses.
      const accepted: string[] = [...immediate];
      let refused: Response | undefined;
      for (let i = 0; i < 100 && !refused; i++) {
        const res = await post(true);
        if (res.status === 202) accepted.push(((await res.json()) as { id: string }).id);
        else refused = res;
      }
      expect(refused?.status).toBe(503);
      expect(refused?.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await refused?.json()).toMatchObject({ error: 'storage_unavailable' });
      expect(accepted.length).toBeGreaterThan(5);
      expect((await post(true)).status).toBe(503);
      expect(await ready()).toBe(503);

      // Not even an ACK record fits now; the held deliveries succeed: their acks cannot be written.
      fillFileSystem(join(root, 'filler-2'));
      holding = false;
      for (const res of held.splice(0)) res.end('ok');
      await until(async () => {
        const res = await fetch(`${url}/_dispatcher/messages/${immediate[4]}`);
        const body = (await res.json()) as { status?: string };
        return body.status === 'delivered' ? true : undefined;
      }, 'the held deliveries to complete');
      expect(await ready()).toBe(503);

      // Space returns: the service recovers by itself, without a restart.
      rmSync(join(root, 'filler'));
      rmSync(join(root, 'filler-2'));
      await until(async () => ((await ready()) === 200 ? true : undefined), 'ready again');
      const after = await post(true);
      expect(after.status).toBe(202);
      accepted.push(((await after.json()) as { id: string }).id);

      // kill -9 and restart: every 202 is there, and the five delivered requests stay delivered.
      app.p.kill('SIGKILL');
      await app.exited;
      app = launch([], env);
      url = await app.listening();
      const delayed = accepted.filter((id) => !immediate.includes(id));
      for (const id of delayed) {
        const res = await fetch(`${url}/_dispatcher/messages/${id}`);
        expect(res.status, `message ${id}`).toBe(200);
        expect(((await res.json()) as { status: string }).status).toBe('scheduled');
      }
      const list = (await (await fetch(`${url}/_dispatcher/messages?limit=1000`)).json()) as {
        items: Array<{ id: string }>;
      };
      expect(list.items.map((m) => m.id).sort()).toEqual([...delayed].sort());
      expect([...deliveries.values()]).toEqual([1, 1, 1, 1, 1]);
    } finally {
      app.p.kill('SIGKILL');
      await app.exited;
      sink.close();
    }
  });
});
