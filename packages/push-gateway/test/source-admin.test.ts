import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { AlertSettingsStore } from '../src/alerts/alert-settings-store.js';
import { ControlServer } from '../src/control/control-server.js';
import { LegacyRpcServer } from '../src/control/rpc/legacy-rpc-server.js';
import { legacyRpcCommands } from '../src/control/rpc/rpc-commands.js';
import { SourceSubscriptionAdmin } from '../src/control/source-subscription-admin.js';
import { PushStats } from '../src/stats/push-stats.js';
import { RedisSubscriptionSource } from '../src/subscriptions/redis-subscription-source.js';
import { redisForFile } from './helpers/file-redis.js';
import { RawRpcClient } from './helpers/rpc-client.js';

let redis: Redis;
redisForFile((client) => {
  redis = client;
});

describe('control plane over the Redis subscription source (two instances)', () => {
  it('creates through REST, changes params through the legacy RPC, and the other instance sees it', async () => {
    const mine = new RedisSubscriptionSource({ redis, pollIntervalMs: 200 });
    const other = new RedisSubscriptionSource({ redis, pollIntervalMs: 200 });
    const admin = new SourceSubscriptionAdmin(mine);
    expect(admin.readOnly).toBe(false);
    const api = new ControlServer({ subscriptions: admin, token: 't', port: 0 });
    const stats = new PushStats({ redis });
    const rpc = new LegacyRpcServer(
      legacyRpcCommands({
        subscriptions: admin,
        defaultSettings: () => ({}),
        alarms: new AlertSettingsStore(redis),
        stats,
      }),
      { port: 0 },
    );
    const { port } = await rpc.start();
    const client = await RawRpcClient.open(port);
    try {
      const created = await api.app.inject({
        method: 'POST',
        url: '/api/v1/subscriptions',
        headers: { authorization: 'Bearer t' },
        payload: { id: 12, topic: 'order.paid', subscriberId: 3, receptionUri: 'http://w.local/a' },
      });
      expect(created.statusCode).toBe(201);
      const set = await client.call('SetSubscriptionParams', {
        SubscriptionId: 12,
        Params: {
          Concurrency: '4',
          ReceiveBenchMsgs: 1,
          AlerterEnabled: '0',
          AlerterEmails: 'a@x.com,b@x.com',
          DropMessageThreshold: 100,
          DropMessageThresholdAction: 2,
          ReceptionUri: 'http://w.local/a\nhttp://w.local/b',
        },
      });
      expect(set).toMatchObject({ status: 'ok', body: true });
      const got = await client.call('GetSubscriptionParams', { SubscriptionId: 12 });
      expect(got.body).toMatchObject({
        SubscriptionId: 12,
        Concurrency: 4,
        ReceiveBenchMsgs: true,
        AlerterEnabled: false,
        AlerterEmails: 'a@x.com,b@x.com',
        DropMessageThreshold: 100,
        DropMessageThresholdAction: 2,
        ReceptionUri: 'http://w.local/a\nhttp://w.local/b',
      });
      // The other instance reads the store on its own.
      const seen = await other.get(12);
      expect(seen?.params).toMatchObject({
        concurrency: 4,
        receiveBench: true,
        urls: ['http://w.local/a', 'http://w.local/b'],
        backlog: { threshold: 100, action: 'drop' },
      });
      expect(seen?.params.alerts).toMatchObject({ enabled: false, emails: ['a@x.com', 'b@x.com'] });
      const missing = await client.call('SetSubscriptionParams', {
        SubscriptionId: 99,
        Params: { Concurrency: 1 },
      });
      expect(missing.status).toBe('failed');
      expect(String(missing.body)).toMatch(/^DSP_PUSH_NOT_FOUND/);
      const del = await api.app.inject({
        method: 'DELETE',
        url: '/api/v1/subscriptions/12',
        headers: { authorization: 'Bearer t' },
      });
      expect(del.statusCode).toBe(204);
      expect(await other.refresh().then(() => other.list())).toEqual([]);
    } finally {
      client.socket.destroy();
      await rpc.close();
      await api.close();
      await stats.close();
      await mine.close();
      await other.close();
    }
  });
});
