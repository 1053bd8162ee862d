import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlFailureLog } from '../src/push/mysql-failure-log.js';
import { MysqlSubscriptionSource } from '../src/subscriptions/mysql-subscription-source.js';
import { SUBSCRIPTION_DEFAULTS } from '../src/subscriptions/subscription-defaults.js';
import type { SubscriptionChange } from '../src/subscriptions/subscription-source.js';
import { createTestDatabase, type TestDatabase } from './helpers/mysql-database.js';
import { waitFor } from './helpers/wait-for.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(
    `INSERT INTO message_classes (class_id, class_key, class_name) VALUES (1, 'order.paid', 'Order paid'), (2, 'user.created', 'User')`,
  );
  await db.pool.query(
    `INSERT INTO subscribers (subscriber_id, subscriber_name, subscriber_key) VALUES (7, 'shop', 'shop')`,
  );
  await db.pool.query(
    `INSERT INTO subscriptions (subscription_id, message_class_id, subscriber_id, reception_channel, status, timeout) VALUES
     (10, 1, 7, 'http://a.internal/hook', 0, 3000), (11, 2, 7, 'http://b.internal/hook', 0, 0), (12, 1, 7, 'http://c/', 1, 0)`,
  );
  await db.pool.query(
    `INSERT INTO subscription_params (subscription_id, param_name, param_value) VALUES
     (10, 'Concurrency', '4'), (10, 'ReceptionUri', 'http://x/1\n[T_ENV:PUB]http://x/2'), (10, 'AlerterEnabled', '1'),
     (10, 'DropMessageThreshold', '100'), (10, 'DropMessageThresholdAction', '2')`,
  );
});
afterAll(async () => {
  await db?.drop();
});

describe('MysqlSubscriptionSource (original schema on MariaDB)', () => {
  it('reads active subscriptions joined with their class and params, with defaults', async () => {
    const source = new MysqlSubscriptionSource({
      pool: db.pool,
      defaults: { ...SUBSCRIPTION_DEFAULTS, sendersPerChannel: 3 },
    });
    try {
      const subs = await source.list();
      expect(subs.map((s) => s.id)).toEqual([10, 11]);
      const a = subs[0];
      expect(a?.topic).toBe('order.paid');
      expect(a?.params.concurrency).toBe(4);
      expect(a?.params.timeoutMs).toBe(3000);
      expect(a?.params.urls).toEqual(['http://x/1', '[T_ENV:PUB]http://x/2']);
      expect(a?.params.alerts.enabled).toBe(true);
      expect(a?.params.backlog).toEqual({ threshold: 100, action: 'drop' });
      // No Concurrency row: SendersPerChannel, not the original's zero senders.
      const b = subs[1];
      expect(b?.params.concurrency).toBe(3);
      expect(b?.params.urls).toEqual(['http://b.internal/hook']);
      expect(b?.params.timeoutMs).toBe(SUBSCRIPTION_DEFAULTS.timeoutMs);
    } finally {
      await source.close();
    }
  });

  it('sees rows changed by the control panel within a second and writes setParams as rows', async () => {
    const source = new MysqlSubscriptionSource({ pool: db.pool, pollIntervalMs: 200 });
    const changes: SubscriptionChange[] = [];
    try {
      await source.list();
      source.watch((c) => changes.push(c));
      await db.pool.query(
        `INSERT INTO subscription_params (subscription_id, param_name, param_value) VALUES (11, 'ConcurrencyOfRetry', '6')`,
      );
      // From the commit on; a few polls of slack for a loaded machine (a source that never polls fails).
      const at = Date.now();
      await waitFor('change seen', () =>
        changes.find(
          (c) =>
            c.kind === 'upsert' && c.subscription.id === 11 && c.subscription.params.retryConcurrency === 6,
        ),
      );
      expect(Date.now() - at).toBeLessThan(5_000);
      const updated = await source.setParams(11, {
        concurrency: 5,
        retry: { kind: 'exponential', maxRetries: 3, baseDelayMs: 100, maxDelayMs: 1000 },
      });
      expect(updated.params.concurrency).toBe(5);
      expect(updated.params.retry).toEqual({
        kind: 'exponential',
        maxRetries: 3,
        baseDelayMs: 100,
        maxDelayMs: 1000,
      });
      const [rows] = await db.pool.query(
        `SELECT param_value FROM subscription_params WHERE subscription_id = 11 AND param_name = 'Concurrency'`,
      );
      expect(rows).toEqual([{ param_value: '5' }]);
      await db.pool.query('UPDATE subscriptions SET status = 1 WHERE subscription_id = 11');
      await waitFor('removal seen', () => changes.find((c) => c.kind === 'remove' && c.id === 11));
      await expect(source.setParams(999, { concurrency: 1 })).rejects.toMatchObject({
        code: 'DSP_PUSH_NOT_FOUND',
      });
    } finally {
      await source.close();
    }
  });

  it('writes broadcast_failure_log rows the control panel can read', async () => {
    const source = new MysqlSubscriptionSource({ pool: db.pool });
    const log = new MysqlFailureLog(db.pool);
    try {
      const sub = await source.get(10);
      if (!sub) throw new Error('no subscription 10');
      const message = {
        msgKey: 'order.paid',
        body: { id: 1 },
        sender: 's',
        time: 1700000000.5,
        originJobId: 9,
        retryTimes: 0,
        logId: 0,
        delay: 0,
        priority: 0,
        context: '',
        owlContext: '',
      };
      const id = await log.recordFailure(
        {
          subscription: sub,
          message,
          jobId: '1700000000.500000-9-10',
          url: 'http://x/1',
          error: 'Code: 500',
        },
        0,
      );
      expect(id).toBeGreaterThan(0);
      expect(
        await log.recordFailure(
          { subscription: sub, message, jobId: 'j', url: 'http://x/2', error: 'Code: 502' },
          id,
        ),
      ).toBe(id);
      await log.setFinalStatus(id, true, false, 2);
      const [rows] = await db.pool.query(
        'SELECT message_class_id, subscriber_id, subscription_id, message_body, job_id, last_target, final_status, alive, retry_times, first_failure_message, last_failure_message FROM broadcast_failure_log WHERE log_id = ?',
        [id],
      );
      const row = (rows as Record<string, unknown>[])[0];
      expect(row).toMatchObject({
        message_class_id: 1,
        subscriber_id: 7,
        subscription_id: 10,
        message_body: '{"id":1}',
        job_id: '1700000000.500000-9-10',
        last_target: 'http://x/2',
        final_status: 1,
        alive: 0,
        retry_times: 2,
      });
      expect(String(row?.first_failure_message)).toContain('Code: 500');
      expect(String(row?.last_failure_message)).toContain('Code: 502');
    } finally {
      await source.close();
    }
  });
});
