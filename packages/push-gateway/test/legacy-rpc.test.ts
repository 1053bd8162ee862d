import { createServer, type Server } from 'node:http';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlertSettingsStore } from '../src/alerts/alert-settings-store.js';
import { LegacyRpcServer } from '../src/control/rpc/legacy-rpc-server.js';
import { legacyRpcCommands } from '../src/control/rpc/rpc-commands.js';
import { PushStats } from '../src/stats/push-stats.js';
import { redisForFile } from './helpers/file-redis.js';
import { MemorySubscriptionAdmin } from './helpers/memory-subscription-admin.js';
import { RawRpcClient } from './helpers/rpc-client.js';

let redis: Redis;
redisForFile((client) => {
  redis = client;
});

describe('legacy RPC server (raw socket, original framing)', () => {
  let admin: MemorySubscriptionAdmin;
  let server: LegacyRpcServer;
  let port: number;
  let stats: PushStats;
  let settings: AlertSettingsStore;
  let client: RawRpcClient;
  const cleared: { tube: string; servers: readonly string[] }[] = [];
  let callbacks: string[];
  let callbackServer: Server;

  beforeEach(async () => {
    await redis.flushall();
    admin = new MemorySubscriptionAdmin();
    await admin.create({ id: 32, topic: 'order.paid', receptionUri: 'http://worker.local/handle' });
    stats = new PushStats({ redis, keyPrefix: 'rpc-test' });
    settings = new AlertSettingsStore(redis);
    callbacks = [];
    callbackServer = createServer((req, res) => {
      callbacks.push(req.url ?? '');
      res.end('ok');
    });
    await new Promise<void>((r) => callbackServer.listen(0, '127.0.0.1', r));
    const commands = legacyRpcCommands({
      subscriptions: admin,
      defaultSettings: () => ({ MaxSendersPerChannel: 1500, SendersPerChannel: 5 }),
      alarms: settings,
      stats,
      cleaner: {
        clearTube: async (tube, servers) => {
          cleared.push({ tube, servers });
          return { deleted: 3 };
        },
      },
      notify: async (url) => {
        await fetch(url);
      },
    });
    server = new LegacyRpcServer(commands, { port: 0, processTimeoutMs: 5_000 });
    ({ port } = await server.start());
    client = await RawRpcClient.open(port);
  });

  afterEach(async () => {
    client.socket.destroy();
    await server.close();
    await stats.close();
    await new Promise<void>((r) => callbackServer.close(() => r()));
  });

  it('answers GetSubscriptionParams with an 8-byte length, an 8-byte status and the JSON', async () => {
    const res = await client.call('GetSubscriptionParams', { SubscriptionId: 32 });
    expect(res.status).toBe('ok');
    // Header bytes exactly as the original: ASCII length NUL-padded to 8, "ok" NUL-padded to 8.
    const len = String(res.raw.length - 16);
    expect(res.raw.subarray(0, 8)).toEqual(Buffer.concat([Buffer.from(len), Buffer.alloc(8 - len.length)]));
    expect(res.raw.subarray(8, 16)).toEqual(Buffer.from('ok\0\0\0\0\0\0', 'latin1'));
    expect(res.body).toMatchObject({
      SubscriptionId: 32,
      Concurrency: 5,
      ReceptionUri: 'http://worker.local/handle',
    });
  });

  it('SetSubscriptionParams takes numbers and strings for booleans and numbers (the original failed)', async () => {
    const res = await client.call('SetSubscriptionParams', {
      SubscriptionId: '32',
      Params: {
        Concurrency: 7,
        ConcurrencyOfRetry: '2',
        ReceiveBenchMsgs: 1,
        AlerterEnabled: '0',
        ProcessTimeout: 2000,
        ReceptionUri: 'http://a.local/x\nhttp://b.local/y',
        NotAParam: 'ignored',
      },
    });
    expect(res).toMatchObject({ status: 'ok', body: true });
    const after = await client.call('GetSubscriptionParams', { SubscriptionId: 32 });
    expect(after.body).toMatchObject({
      Concurrency: 7,
      ConcurrencyOfRetry: 2,
      ReceiveBenchMsgs: true,
      AlerterEnabled: false,
      ProcessTimeout: 2000,
      ReceptionUri: 'http://a.local/x\nhttp://b.local/y',
    });
    expect(after.body).not.toHaveProperty('NotAParam');
  });

  it('refuses bad values with status failed and a coded message, changing nothing', async () => {
    const res = await client.call('SetSubscriptionParams', {
      SubscriptionId: 32,
      Params: { Concurrency: -1, AlerterEnabled: 'maybe' },
    });
    expect(res.status).toBe('failed');
    expect(String(res.body)).toMatch(/^DSP_PUSH_INVALID_ARGUMENT: /);
    expect(admin.params.get(32)).toBeUndefined();
    const missing = await client.call('GetSubscriptionParams', { SubscriptionId: 999 });
    expect(missing.status).toBe('failed');
    expect(String(missing.body)).toMatch(/^DSP_PUSH_NOT_FOUND: /);
  });

  it('answers unknown commands and malformed JSON with failed, and keeps the connection', async () => {
    const unknown = await client.call('Nope', {});
    expect(unknown.status).toBe('failed');
    expect(String(unknown.body)).toMatch(/^DSP_PUSH_RPC_UNKNOWN_COMMAND: /);
    client.socket.write(RawRpcClient.frame('{not json'));
    const bad = await client.response();
    expect(bad.status).toBe('failed');
    expect(String(bad.body)).toMatch(/^DSP_PUSH_RPC_BAD_FRAME: /);
    const noArgs = await client.call('GetDefaultSubscriptionSettings', 'x');
    expect(noArgs.status).toBe('failed');
    const ok = await client.call('GetDefaultSubscriptionSettings', {});
    expect(ok).toMatchObject({ status: 'ok', body: { MaxSendersPerChannel: 1500, SendersPerChannel: 5 } });
  });

  it('reads requests split across writes and several requests in one write, answering in order', async () => {
    const a = RawRpcClient.frame(JSON.stringify({ cmd: 'GetDefaultSubscriptionSettings', args: {} }));
    const b = RawRpcClient.frame(
      JSON.stringify({ cmd: 'GetSubscriptionParams', args: { SubscriptionId: 32 } }),
    );
    const both = Buffer.concat([a, b]);
    for (let i = 0; i < both.length; i += 5) {
      client.socket.write(both.subarray(i, i + 5));
      await new Promise((r) => setImmediate(r));
    }
    expect((await client.response()).body).toMatchObject({ SendersPerChannel: 5 });
    expect((await client.response()).body).toMatchObject({ SubscriptionId: 32 });
  });

  it('ClearDataCache with no args flushes all, with lists of prefixes only those', async () => {
    expect(await client.call('ClearDataCache', {})).toMatchObject({ status: 'ok' });
    expect(await client.call('ClearDataCache', [])).toMatchObject({ status: 'ok' });
    expect(await client.call('ClearDataCache', { p: ['sub:', 'params:'] })).toMatchObject({
      status: 'ok',
      body: 2,
    });
    expect(admin.cacheClears).toEqual([undefined, undefined, ['sub:', 'params:']]);
    expect((await client.call('ClearDataCache', { p: 'sub:' })).status).toBe('failed');
  });

  it('SetDefaultAlarm stores the settings in Redis for every instance', async () => {
    const res = await client.call('SetDefaultAlarm', {
      default_alarm_receiver: 'ops-team',
      default_alarm_chan: '00000111',
      global_message_blocked_alert_threshold: '100000',
      name_of_main_queue_blocked_alert_threshold: 5000,
    });
    expect(res).toMatchObject({ status: 'ok', body: null });
    const other = new AlertSettingsStore(redis);
    expect(await other.get()).toMatchObject({
      DefaultAlarmReceiver: 'ops-team',
      DefaultAlarmChan: '00000111',
      GlobalMessageBlockedAlertThreshold: 100000,
      NameOfMainQueueBlockedAlertThreshold: 5000,
      GlobalMessageBlockedAlarmInterval: 180,
    });
  });

  it('GetPushStatistics returns ALL/SUCCESS/FAIL per topic and subscription', async () => {
    stats.record({ topic: 'order.paid', subscriptionId: 32, ok: true, count: 4 });
    stats.record({ topic: 'order.paid', subscriptionId: 32, ok: false });
    await stats.flush();
    const res = await client.call('GetPushStatistics', {});
    expect(res.status).toBe('ok');
    const body = res.body as Record<string, Record<string, Record<string, number>>>;
    expect(body['ALL:order.paid']?.['32']).toMatchObject({ hour: 5, day: 5 });
    expect(body['SUCCESS:order.paid']?.['32']).toMatchObject({ hour: 4, day: 4 });
    expect(body['FAIL:order.paid']?.['32']).toMatchObject({ hour: 1, day: 1 });
    expect(Object.keys(body['ALL:order.paid']?.['32'] ?? {}).sort()).toEqual(
      ['10_second', 'day', 'hour', 'minute', 'second'].sort(),
    );
  });

  it('CleanTopic answers at once, clears in the background and calls the callback back', async () => {
    const cb = `http://127.0.0.1:${(callbackServer.address() as { port: number }).port}/done?job=1`;
    const res = await client.call('CleanTopic', {
      servers: ['127.0.0.1:11300'],
      topic: 'order.paid/sub-queue/32',
      callback: cb,
    });
    expect(res).toMatchObject({ status: 'ok', body: null });
    const deadline = Date.now() + 15_000;
    while (callbacks.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(callbacks).toEqual(['/done?job=1&state=done']);
    expect(cleared.at(-1)).toEqual({ tube: 'order.paid/sub-queue/32', servers: ['127.0.0.1:11300'] });
  });

  it('closes with CLOSE when the client sends CLOSE, and on a malformed length header', async () => {
    client.socket.write('CLOSE');
    expect((await client.closedWith()).toString()).toBe('CLOSE');
    const c2 = await RawRpcClient.open(port);
    c2.socket.write('12ab\0\0\0\0{}');
    expect((await c2.closedWith()).toString()).toBe('CLOSE');
  });

  it('close() lets a running command answer, then hangs up with CLOSE', async () => {
    let started!: () => void;
    const running = new Promise<void>((r) => {
      started = r;
    });
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const slow = new LegacyRpcServer(
      new Map([
        [
          'Slow',
          async () => {
            started();
            await released;
            return 'done';
          },
        ],
      ]),
      { port: 0 },
    );
    const { port: p } = await slow.start();
    const c = await RawRpcClient.open(p);
    c.socket.write(RawRpcClient.frame(JSON.stringify({ cmd: 'Slow', args: {} })));
    await running;
    const closing = slow.close();
    release();
    expect(await c.response()).toMatchObject({ status: 'ok', body: 'done' });
    expect((await c.closedWith()).toString()).toBe('CLOSE');
    await closing;
    await expect(slow.start()).rejects.toMatchObject({ code: 'DSP_PUSH_CLOSED' });
  });
});
