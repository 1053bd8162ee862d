import { describe, expect, it } from 'vitest';
import { deadLetterCount, eventually, send, sink, startProxy, to } from './helpers/start-proxy.js';

const get = (proxy: Awaited<ReturnType<typeof startProxy>>, path: string) =>
  send(proxy, path, { method: 'GET' });
const post = (proxy: Awaited<ReturnType<typeof startProxy>>, path: string, body: unknown) =>
  send(proxy, path, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const ids = (json: Record<string, unknown>) => (json.items as Array<{ id: string }>).map((i) => i.id);

describe('admin API', () => {
  it('filters dead letters by host, time and status', async () => {
    const a = await sink();
    const b = await sink();
    a.behave = () => ({ kind: 'status', status: 404 });
    b.behave = () => ({ kind: 'status', status: 410 });
    const proxy = await startProxy();
    const a1 = (await send(proxy, '/a1', to(a))).json.id as string;
    await eventually(async () => (await deadLetterCount(proxy)) === 1);
    const between = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    const b1 = (await send(proxy, '/b1', to(b))).json.id as string;
    const a2 = (await send(proxy, '/a2', to(a))).json.id as string;
    await eventually(async () => (await deadLetterCount(proxy)) === 3);

    const all = await get(proxy, '/_dispatcher/dead-letters');
    expect(new Set(ids(all.json))).toEqual(new Set([a1, b1, a2]));
    expect(new Set(ids((await get(proxy, `/_dispatcher/dead-letters?host=${a.host}`)).json))).toEqual(
      new Set([a1, a2]),
    );
    expect(ids((await get(proxy, `/_dispatcher/dead-letters?host=${b.host}`)).json)).toEqual([b1]);
    expect(new Set(ids((await get(proxy, `/_dispatcher/dead-letters?since=${between}`)).json))).toEqual(
      new Set([b1, a2]),
    );
    expect(ids((await get(proxy, `/_dispatcher/dead-letters?until=${between}`)).json)).toEqual([a1]);
    const iso = new Date(between).toISOString();
    expect(ids((await get(proxy, `/_dispatcher/dead-letters?until=${iso}`)).json)).toEqual([a1]);
    // status: the last HTTP status or the reason.
    expect(ids((await get(proxy, '/_dispatcher/dead-letters?status=410')).json)).toEqual([b1]);
    expect(new Set(ids((await get(proxy, '/_dispatcher/dead-letters?status=status-404')).json))).toEqual(
      new Set([a1, a2]),
    );
    expect(ids((await get(proxy, `/_dispatcher/dead-letters?host=${a.host}&status=410`)).json)).toEqual([]);
    expect((await get(proxy, '/_dispatcher/dead-letters?since=yesterday')).status).toBe(400);
  });

  it('filters pending messages by status and host', async () => {
    const up = await sink();
    const down = await sink();
    down.behave = () => ({ kind: 'status', status: 503 });
    const proxy = await startProxy({ retryBaseMs: 60_000, retryMaxMs: 60_000 });
    const scheduled = (await send(proxy, '/later', to(up, { 'x-dispatcher-delay': '60000' }))).json.id;
    const retrying = (await send(proxy, '/retry', to(down))).json.id;
    await down.waitFor(1);
    await eventually(
      async () => (await get(proxy, `/_dispatcher/messages/${retrying}`)).json.status === 'retrying',
    );

    expect(ids((await get(proxy, '/_dispatcher/messages?status=scheduled')).json)).toEqual([scheduled]);
    expect(ids((await get(proxy, '/_dispatcher/messages?status=retrying')).json)).toEqual([retrying]);
    expect(new Set(ids((await get(proxy, '/_dispatcher/messages?status=retrying,scheduled')).json))).toEqual(
      new Set([scheduled, retrying]),
    );
    expect(ids((await get(proxy, `/_dispatcher/messages?host=${down.host}`)).json)).toEqual([retrying]);
    expect(ids((await get(proxy, '/_dispatcher/messages?status=pending')).json)).toEqual([]);
    const bad = await get(proxy, '/_dispatcher/messages?status=lost');
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/status: unknown lost/);
  });

  it('pages through pending messages and dead letters with next, losing and repeating none', async () => {
    const dead = await sink();
    dead.behave = () => ({ kind: 'status', status: 404 });
    const up = await sink();
    const proxy = await startProxy();
    const letters: string[] = [];
    for (let i = 0; i < 5; i++) letters.push((await send(proxy, `/d${i}`, to(dead))).json.id as string);
    await eventually(async () => (await deadLetterCount(proxy)) === 5);
    const later: string[] = [];
    for (let i = 0; i < 5; i++)
      later.push((await send(proxy, `/l${i}`, to(up, { 'x-dispatcher-delay': '60000' }))).json.id as string);

    for (const [path, expected] of [
      ['/_dispatcher/messages', later],
      ['/_dispatcher/dead-letters', letters],
    ] as const) {
      const seen: string[] = [];
      let cursor: unknown;
      for (let page = 0; page < 10; page++) {
        const res = await get(proxy, `${path}?limit=2${cursor === undefined ? '' : `&cursor=${cursor}`}`);
        expect(res.status).toBe(200);
        seen.push(...ids(res.json));
        cursor = res.json.next;
        if (cursor === undefined) break;
      }
      expect(new Set(seen)).toEqual(new Set(expected));
      expect(seen).toHaveLength(expected.length);
    }
  });

  it('answers 404 not_found for an unknown message or dead letter id', async () => {
    const proxy = await startProxy();
    const message = await get(proxy, '/_dispatcher/messages/no-such-id');
    expect(message.status).toBe(404);
    expect(message.json).toEqual({
      error: 'not_found',
      message: 'no pending, dead-lettered or recently delivered message no-such-id',
    });
    const letter = await get(proxy, '/_dispatcher/dead-letters/no-such-id');
    expect(letter.status).toBe(404);
    expect(letter.json).toEqual({ error: 'not_found', message: 'no dead letter no-such-id' });
  });

  it('refuses redrive edits of headers the proxy owns or that are malformed', async () => {
    const dest = await sink();
    dest.behave = () => ({ kind: 'status', status: 404 });
    const proxy = await startProxy();
    const id = (await send(proxy, '/x', to(dest))).json.id as string;
    await eventually(async () => (await deadLetterCount(proxy)) === 1);
    for (const headers of [
      { 'content-length': '5' },
      { Host: 'elsewhere' },
      { 'transfer-encoding': 'chunked' },
      { 'x-dispatcher-attempt': '7' },
      { 'bad name': 'x' },
      { 'x-ok': 'line\nbreak' },
    ]) {
      const res = await post(proxy, '/_dispatcher/dead-letters/redrive', { ids: [id], edit: { headers } });
      expect(res.status, JSON.stringify(headers)).toBe(400);
      expect(res.json.error).toBe('invalid_body');
    }
    expect(await deadLetterCount(proxy)).toBe(1);
  });

  it('redrives every dead letter in chunks, once, even when two redrives race', async () => {
    const dest = await sink();
    let accept = false;
    dest.behave = () => ({ kind: 'status', status: accept ? 200 : 404 });
    const proxy = await startProxy();
    const count = 600; // more than one chunk of 256
    await Promise.all(Array.from({ length: count }, (_, i) => send(proxy, `/m${i}`, to(dest))));
    await eventually(async () => (await deadLetterCount(proxy)) === count, 20_000);
    accept = true;
    const before = dest.received.length;

    const [first, second] = await Promise.all([
      post(proxy, '/_dispatcher/dead-letters/redrive', { all: true }),
      post(proxy, '/_dispatcher/dead-letters/redrive', { all: true }),
    ]);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect((first.json.count as number) + (second.json.count as number)).toBe(count);
    expect(await deadLetterCount(proxy)).toBe(0);
    await eventually(() => dest.received.length - before === count, 20_000);
    // Nothing left to send: a copy redriven twice would still be counted here.
    await eventually(() => proxy.engine.backlog === 0, 20_000);
    const urls = dest.received.slice(before).map((r) => r.url);
    expect(new Set(urls).size).toBe(count);
    expect(urls.length).toBe(count);
    expect((await post(proxy, '/_dispatcher/dead-letters/purge', { all: true })).json.purged).toBe(0);
  });

  it('redrives each letter once even when the copies fail again during the redrive', async () => {
    const dest = await sink();
    dest.behave = () => ({ kind: 'status', status: 404 }); // stays broken: every copy is dead-lettered again
    const proxy = await startProxy();
    const count = 600;
    await Promise.all(Array.from({ length: count }, (_, i) => send(proxy, `/m${i}`, to(dest))));
    await eventually(async () => (await deadLetterCount(proxy)) === count, 20_000);
    const redrive = await post(proxy, '/_dispatcher/dead-letters/redrive', { all: true });
    expect(redrive.status).toBe(200);
    expect(redrive.json.count).toBe(count);
    await eventually(
      async () => dest.received.length === 2 * count && (await deadLetterCount(proxy)) === count,
      20_000,
    );
    await eventually(() => proxy.engine.backlog === 0, 20_000);
    expect(dest.received.length).toBe(2 * count);
  });
});
