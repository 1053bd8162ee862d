import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HttpProxy } from '../src/http-proxy.js';
import { eventually, STORE, send, startProxy, tempDir } from './helpers/start-proxy.js';

const options = (dataDir: string) => ({
  dataDir,
  host: '127.0.0.1',
  port: 0,
  allowedDestinations: ['127.0.0.1'],
});

describe.skipIf(STORE === 'postgres')('HttpProxy lifecycle', () => {
  it('close() is idempotent and later calls reject with DSP_PROXY_CLOSED', async () => {
    const proxy = await startProxy();
    expect(proxy.state).toBe('running');
    const closed = proxy.close();
    expect(proxy.close()).toBe(closed);
    await closed;
    expect(proxy.state).toBe('closed');
    await expect(new HttpProxy(options(tempDir())).close()).resolves.toBeUndefined();
    const never = new HttpProxy(options(tempDir()));
    await never.close();
    await expect(never.start()).rejects.toMatchObject({ code: 'DSP_PROXY_CLOSED' });
  });

  it('destroy() cuts off at once and frees the data directory for the next proxy', async () => {
    const dataDir = tempDir();
    const first = new HttpProxy(options(dataDir));
    await first.start();
    const url = first.url;
    first.destroy(new Error('test'));
    expect(first.state).toBe('closed');
    await expect(first.start()).resolves.toBeUndefined(); // the settled first start
    await eventually(() =>
      fetch(`${url}/_dispatcher/health`).then(
        () => false,
        () => true,
      ),
    );
    // The log's directory lock goes with the release: a new proxy on the same directory starts.
    // destroy() releases in the background: poll with fresh proxies (a started proxy never starts twice).
    let second: HttpProxy | undefined;
    await eventually(async () => {
      const candidate = new HttpProxy(options(dataDir));
      second = await candidate.start().then(
        () => candidate,
        () => undefined,
      );
      return second !== undefined;
    });
    if (!second) throw new Error('unreachable');
    expect((await send(second, '/_dispatcher/health', { method: 'GET' })).json.status).toBe('ok');
    await second.close();
  });

  it('destroy() during start(): the start rejects with DSP_PROXY_CLOSED and releases what it opened', async () => {
    const dataDir = tempDir();
    const proxy = new HttpProxy(options(dataDir));
    const started = proxy.start();
    proxy.destroy();
    expect(proxy.state).toBe('closed');
    await expect(started).rejects.toMatchObject({ code: 'DSP_PROXY_CLOSED' });
    const next = new HttpProxy(options(dataDir));
    await next.start();
    expect(next.state).toBe('running');
    await next.close();
  });

  it('start() with an aborted signal opens nothing and ends closed', async () => {
    const dataDir = tempDir();
    const proxy = new HttpProxy(options(`${dataDir}/never`));
    await expect(proxy.start({ signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'DSP_CORE_ABORTED',
    });
    expect(proxy.state).toBe('closed');
    expect(existsSync(`${dataDir}/never`)).toBe(false);
  });

  it('closes at the end of an await using block', async () => {
    let outer: HttpProxy | undefined;
    {
      await using proxy = new HttpProxy(options(tempDir()));
      outer = proxy;
      await proxy.start();
    }
    expect(outer.state).toBe('closed');
  });
});
