import { describe, expect, it } from 'vitest';
import { ADMIN_HEADERS, call, withDeadLetter } from './helpers/admin-call.js';
import { sink, startProxy, to } from './helpers/start-proxy.js';

const purgeAll = { all: true };

describe('admin API against browsers', () => {
  it('refuses a loopback request whose Host names another site (DNS rebinding) with 421, before any work', async () => {
    const proxy = await withDeadLetter();
    const rebound = { host: 'attacker.example' };
    const list = await call(proxy, 'GET', '/_dispatcher/dead-letters', rebound);
    expect(list.status).toBe(421);
    expect(list.json.error).toBe('misdirected_request');
    expect(String(list.json.message)).toContain('ADMIN_HOSTS');
    expect(list.json.items).toBeUndefined();
    const purge = await call(
      proxy,
      'POST',
      '/_dispatcher/dead-letters/purge',
      { host: 'attacker.example:8080' },
      purgeAll,
    );
    expect(purge.status).toBe(421);
    expect(proxy.store.deadLetterCount).toBe(1);
    for (const path of ['/_dispatcher/messages', '/_dispatcher/metrics'])
      expect((await call(proxy, 'GET', path, rebound)).status, path).toBe(421);
    // Names that only start like loopback ones are other sites too.
    for (const host of ['localhost.attacker.example', '127.0.0.1.nip.io', '10.0.0.1'])
      expect((await call(proxy, 'GET', '/_dispatcher/dead-letters', { host })).status, host).toBe(421);
    // Loopback names and addresses, with or without a port, are the admin API.
    const { port } = new URL(proxy.url);
    for (const host of ['localhost', `localhost:${port}`, `127.0.0.1:${port}`, '127.1.2.3', '[::1]:1'])
      expect((await call(proxy, 'GET', '/_dispatcher/dead-letters', { host })).status, host).toBe(200);
    // Health and readiness stay open to any name: probes use whatever address they have.
    expect((await call(proxy, 'GET', '/_dispatcher/health', rebound)).status).toBe(200);
    const purged = await call(
      proxy,
      'POST',
      '/_dispatcher/dead-letters/purge',
      { host: 'localhost' },
      purgeAll,
    );
    expect(purged.json).toEqual({ purged: 1 });
  });

  it('serves the names listed in adminHosts', async () => {
    const proxy = await withDeadLetter({ adminHosts: ['dispatcher.internal', 'ops.example:8443'] });
    const named = { host: 'dispatcher.internal:8080' };
    const list = await call(proxy, 'GET', '/_dispatcher/dead-letters', named);
    expect(list.status).toBe(200);
    expect(list.json.total).toBe(1);
    expect((await call(proxy, 'GET', '/_dispatcher/dead-letters', { host: 'ops.example:8443' })).status).toBe(
      200,
    );
    expect((await call(proxy, 'GET', '/_dispatcher/dead-letters', { host: 'ops.example:9' })).status).toBe(
      421,
    );
    const purge = await call(
      proxy,
      'POST',
      '/_dispatcher/dead-letters/purge',
      { ...named, origin: 'https://ops.example:8443' },
      purgeAll,
    );
    expect(purge.status).toBe(200);
    expect(purge.json).toEqual({ purged: 1 });
  });

  it('refuses state-changing admin requests from another origin with 403, and keeps bearer-token tools working', async () => {
    const proxy = await withDeadLetter();
    for (const origin of ['http://attacker.example', 'null', 'http://localhost.attacker.example:80']) {
      const res = await call(proxy, 'POST', '/_dispatcher/dead-letters/purge', { origin }, purgeAll);
      expect(res.status, origin).toBe(403);
      expect(res.json.error).toBe('cross_origin');
    }
    const redrive = await call(
      proxy,
      'POST',
      '/_dispatcher/dead-letters/redrive',
      { origin: 'http://attacker.example' },
      purgeAll,
    );
    expect(redrive.status).toBe(403);
    expect(proxy.store.deadLetterCount).toBe(1);
    // A page of the admin API's own origin may.
    const own = await call(proxy, 'POST', '/_dispatcher/dead-letters/purge', { origin: proxy.url }, purgeAll);
    expect(own.json).toEqual({ purged: 1 });

    const guarded = await withDeadLetter({ adminToken: 'tool-token-0123456789' });
    const auth = { authorization: 'Bearer tool-token-0123456789' };
    // A tool names the server as it likes; the token, not the name, grants access.
    const byTool = await call(guarded, 'GET', '/_dispatcher/dead-letters', {
      ...auth,
      host: 'dispatcher.prod:80',
    });
    expect(byTool.status).toBe(200);
    expect((await call(guarded, 'GET', '/_dispatcher/dead-letters', { host: 'localhost' })).status).toBe(401);
    const crossWithToken = await call(
      guarded,
      'POST',
      '/_dispatcher/dead-letters/purge',
      { ...auth, origin: 'http://attacker.example' },
      purgeAll,
    );
    expect(crossWithToken.status).toBe(403);
    expect(guarded.store.deadLetterCount).toBe(1);
    const toolPurge = await call(
      guarded,
      'POST',
      '/_dispatcher/dead-letters/purge',
      { ...auth, host: 'x' },
      purgeAll,
    );
    expect(toolPurge.json).toEqual({ purged: 1 });
  });

  it('puts nosniff, no-referrer and a deny-all CSP on admin responses, refusals included', async () => {
    const proxy = await startProxy();
    const guarded = await startProxy({ adminToken: 'tool-token-0123456789' });
    const answers = [
      await call(proxy, 'GET', '/_dispatcher/dead-letters'),
      await call(proxy, 'GET', '/_dispatcher/dead-letters', { host: 'attacker.example' }),
      await call(proxy, 'POST', '/_dispatcher/dead-letters/purge', { origin: 'http://a.example' }, purgeAll),
      await call(proxy, 'GET', '/_dispatcher/health'),
      await call(proxy, 'GET', '/_dispatcher/no-such-route'),
      await call(guarded, 'GET', '/_dispatcher/dead-letters'),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 421, 403, 200, 400, 401]);
    for (const a of answers) expect(a.headers).toMatchObject(ADMIN_HEADERS);
  });

  it('leaves the ingest path alone: any Host is forwarded, with no admin headers', async () => {
    const dest = await sink();
    const proxy = await startProxy();
    for (const path of ['/orders', '/_dispatcher/dead-letters/purge']) {
      const res = await call(
        proxy,
        'POST',
        path,
        { ...to(dest).headers, host: 'attacker.example', origin: 'http://attacker.example' },
        'x',
      );
      expect(res.status, path).toBe(202);
      expect(res.headers['content-security-policy']).toBeUndefined();
    }
    await dest.waitFor(2);
    expect(dest.received.map((r) => r.url)).toEqual(['/orders', '/_dispatcher/dead-letters/purge']);
  });
});
