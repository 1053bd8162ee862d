import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AlertManager } from '../src/alerts/alert-manager.js';
import { AlertSettingsStore } from '../src/alerts/alert-settings-store.js';
import { SendmailAlertChannel } from '../src/alerts/sendmail-alert-channel.js';
import { SmsAlertChannel } from '../src/alerts/sms-alert-channel.js';
import { WebhookAlertChannel } from '../src/alerts/webhook-alert-channel.js';
import { PushChannels, type PushFailedEvent, publishPushEvent } from '../src/events/push-events.js';
import type { Subscription } from '../src/subscriptions/subscription.js';
import { redisForFile } from './helpers/file-redis.js';
import { subscriptionFixture } from './helpers/subscription-fixture.js';

/** A real HTTP receiver that records every request and answers as told. */
async function receiver(
  answer: (req: IncomingMessage, body: string) => [number, string] = () => [200, 'ok'],
) {
  const seen: { url: string; headers: IncomingMessage['headers']; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      const [status, text] = answer(req, body);
      res.writeHead(status).end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
  return { seen, url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function failed(sub: Subscription, retryTimes: number, willRetry = true): PushFailedEvent {
  return {
    topic: sub.topic,
    subscriptionId: sub.id,
    originJobId: 9,
    pushJobId: `1700000000-9-${sub.id}`,
    retryTimes,
    at: Date.now(),
    url: sub.params.urls[0] ?? '',
    status: 500,
    code: 'DSP_PUSH_HTTP_STATUS',
    durationMs: 3,
    willRetry,
  };
}

let redis: Redis;
let dir: string;
redisForFile((client) => {
  redis = client;
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dsp-alerts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  await redis.flushall();
});

describe('alert channels', () => {
  it('webhook POSTs the alert as JSON and fails on non-2xx', async () => {
    const hook = await receiver((req) =>
      req.headers.authorization === 'Bearer t' ? [204, ''] : [401, 'no'],
    );
    const ch = new WebhookAlertChannel({ url: hook.url, headers: { authorization: 'Bearer t' } });
    await ch.send({ kind: 'main-backlog', subject: 's', content: 'c', chan: '0011', at: 0 }, ['ops']);
    expect(JSON.parse(hook.seen[0]?.body ?? '')).toEqual({
      kind: 'main-backlog',
      subject: 's',
      content: 'c',
      recipients: ['ops'],
      subscriptionId: null,
      topic: null,
      chan: '0011',
      at: '1970-01-01T00:00:00.000Z',
    });
    const bad = new WebhookAlertChannel({ url: hook.url });
    await expect(
      bad.send({ kind: 'main-backlog', subject: 's', content: 'c', at: 0 }, []),
    ).rejects.toMatchObject({
      code: 'DSP_PUSH_ALERT_DELIVERY_FAILED',
    });
    await hook.close();
  });

  it('SMS posts one form per phone number with the mapped fields and checks the ack string', async () => {
    const gw = await receiver((_req, body) => [
      200,
      new URLSearchParams(body).get('num') === '13800000000' ? 'ok' : 'ERR',
    ]);
    const ch = new SmsAlertChannel({
      gateway: gw.url,
      user: 'monitor',
      password: 'pw',
      fieldsMap: { User: 'task', Password: 'key', Recipient: 'num', Content: 'content' },
      ackStr: 'ok',
    });
    await ch.send({ kind: 'channel-backlog', subject: 'S', content: 'hello 你好', at: 0 }, ['13800000000']);
    expect(Object.fromEntries(new URLSearchParams(gw.seen[0]?.body))).toEqual({
      task: 'monitor',
      key: 'pw',
      num: '13800000000',
      content: 'hello 你好',
    });
    expect(gw.seen[0]?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    await expect(
      ch.send({ kind: 'channel-backlog', subject: 'S', content: 'x', at: 0 }, ['13900000000', 'not-a-phone']),
    ).rejects.toMatchObject({ code: 'DSP_PUSH_ALERT_DELIVERY_FAILED' });
    expect(gw.seen).toHaveLength(2);
    await gw.close();
  });

  it('e-mail runs sendmail -t -i with the message on stdin (a real process recording it)', async () => {
    const out = join(dir, 'mail.txt');
    const script = join(dir, 'fake-sendmail');
    await writeFile(script, `#!/bin/sh\necho "$@" > "${out}.args"\ncat > "${out}"\n`);
    await chmod(script, 0o755);
    const ch = new SendmailAlertChannel({ path: script, from: 'gw@example.com' });
    await ch.send(
      { kind: 'message-failures', subject: 'Ärger\r\nBcc: x@y.z', content: 'line1\nline2', at: 0 },
      ['a@example.com', 'b@example.com'],
    );
    expect((await readFile(`${out}.args`, 'utf8')).trim()).toBe('-t -i');
    const mail = await readFile(out, 'utf8');
    expect(mail).toContain('From: gw@example.com\r\n');
    expect(mail).toContain('To: a@example.com, b@example.com\r\n');
    expect(mail).toContain(`Subject: =?UTF-8?B?${Buffer.from('Ärger Bcc: x@y.z').toString('base64')}?=\r\n`);
    expect(mail).not.toMatch(/^Bcc:/m);
    expect(mail).toContain('\r\n\r\nline1\r\nline2');
    await expect(
      ch.send({ kind: 'message-failures', subject: 's', content: 'c', at: 0 }, ['x@y.z\r\nBcc: evil@e.com']),
    ).rejects.toMatchObject({ code: 'DSP_PUSH_ALERT_DELIVERY_FAILED' });
    const failing = join(dir, 'failing-sendmail');
    await writeFile(failing, '#!/bin/sh\ncat >/dev/null\necho "no relay" >&2\nexit 75\n');
    await chmod(failing, 0o755);
    await expect(
      new SendmailAlertChannel({ path: failing }).send(
        { kind: 'main-backlog', subject: 's', content: 'c', at: 0 },
        ['a@example.com'],
      ),
    ).rejects.toMatchObject({ code: 'DSP_PUSH_ALERT_DELIVERY_FAILED' });
  });
});

describe('AlertManager (redis-server, real receivers)', () => {
  it('raises a subscription-failure alert once per interval across two instances', async () => {
    const hook = await receiver();
    const sub = subscriptionFixture(5, 'order.paid', {
      alerts: { receivers: ['team-a'], subscriptionFailureThreshold: 3, messageFailureThreshold: 100 },
    });
    const make = () =>
      new AlertManager({
        redis,
        subscriptions: { get: async (id) => (id === sub.id ? sub : undefined) },
        settings: new AlertSettingsStore(redis),
        channels: { webhook: new WebhookAlertChannel({ url: hook.url }) },
      });
    const a = make();
    const b = make();
    const results = [];
    for (let i = 0; i < 8; i += 1) results.push(...(await (i % 2 ? a : b).onPushFailed(failed(sub, 0))));
    expect(results.map((r) => r.result)).toEqual([
      'sent',
      'limited',
      'limited',
      'limited',
      'limited',
      'limited',
    ]);
    expect(hook.seen).toHaveLength(1);
    const body = JSON.parse(hook.seen[0]?.body ?? '');
    expect(body).toMatchObject({ kind: 'subscription-failures', recipients: ['team-a'], subscriptionId: 5 });
    expect(body.content).toContain('failed 3 pushes');
    await Promise.all([a.close(), b.close(), hook.close()]);
  });

  it('listens on the failed-push channel and alerts when one message failed too often', async () => {
    const sms = await receiver(() => [200, 'ok']);
    const sub = subscriptionFixture(6, 'user.created', {
      alerts: { phoneNumbers: ['13800000000'], messageFailureThreshold: 3, subscriptionFailureThreshold: 0 },
    });
    const m = new AlertManager({
      redis,
      subscriptions: { get: async () => sub },
      settings: new AlertSettingsStore(redis),
      channels: { sms: new SmsAlertChannel({ gateway: sms.url }) },
    });
    m.start();
    publishPushEvent(PushChannels.failed, failed(sub, 0));
    publishPushEvent(PushChannels.failed, failed(sub, 1));
    publishPushEvent(PushChannels.failed, failed(sub, 2, false));
    await until(() => sms.seen.length === 1, 'the SMS');
    expect(new URLSearchParams(sms.seen[0]?.body).get('content')).toContain(
      'failed the same message 3 times',
    );
    await m.close();
    await sms.close();
  });

  it('sends to the default receiver (SetDefaultAlarm) when the subscription has none, and not when disabled', async () => {
    const hook = await receiver();
    const settings = new AlertSettingsStore(redis);
    await settings.setDefaultAlarm({ DefaultAlarmReceiver: 'oncall', DefaultAlarmChan: '00000111' });
    let sub = subscriptionFixture(7, 't', { alerts: { subscriptionFailureThreshold: 1 } });
    const m = new AlertManager({
      redis,
      subscriptions: { get: async () => sub },
      settings,
      channels: { webhook: new WebhookAlertChannel({ url: hook.url }) },
    });
    expect((await m.onPushFailed(failed(sub, 0)))[0]?.result).toBe('sent');
    const body = JSON.parse(hook.seen[0]?.body ?? '');
    expect(body).toMatchObject({ recipients: ['oncall'], chan: '00000111' });
    expect(body.content).toContain('has no alert receiver');
    sub = subscriptionFixture(8, 't', { alerts: { subscriptionFailureThreshold: 1, enabled: false } });
    expect(await m.onPushFailed(failed(sub, 0))).toEqual([]);
    expect(hook.seen).toHaveLength(1);
    await m.close();
    await hook.close();
  });

  it('raises channel, main-tube and global backlog alerts from a backlog snapshot', async () => {
    const hook = await receiver();
    const out = join(dir, 'backlog-mail.txt');
    const script = join(dir, 'fake-sendmail-2');
    await writeFile(script, `#!/bin/sh\ncat >> "${out}"\n`);
    await chmod(script, 0o755);
    const settings = new AlertSettingsStore(redis, { DefaultAlarmReceiver: 'ops' });
    await settings.setDefaultAlarm({
      NameOfMainQueueBlockedAlertThreshold: 100,
      GlobalMessageBlockedAlertThreshold: 50,
    });
    const subs = new Map([
      [1, subscriptionFixture(1, 'a', { alerts: { emails: ['dev@example.com'], backlogThreshold: 40 } })],
      [2, subscriptionFixture(2, 'b', { alerts: { emails: ['dev@example.com'], backlogThreshold: 1000 } })],
    ]);
    const m = new AlertManager({
      redis,
      subscriptions: { get: async (id) => subs.get(id) },
      settings,
      channels: {
        webhook: new WebhookAlertChannel({ url: hook.url }),
        email: new SendmailAlertChannel({ path: script }),
      },
      backlog: {
        backlog: async () => ({
          main: 150,
          channels: [
            { subscriptionId: 1, ready: 45, retryReady: 0 },
            { subscriptionId: 2, ready: 10, retryReady: 0 },
          ],
        }),
      },
    });
    const outcomes = await m.checkBacklogs();
    expect(outcomes.map((o) => [o.kind, o.subscriptionId, o.result])).toEqual([
      ['channel-backlog', 1, 'sent'],
      ['main-backlog', undefined, 'sent'],
      ['global-backlog', undefined, 'sent'],
    ]);
    expect(await readFile(out, 'utf8')).toContain('Subscription 1 (topic a) has 45 messages waiting');
    expect(hook.seen.map((s) => JSON.parse(s.body).kind)).toEqual(['main-backlog', 'global-backlog']);
    // Within the interval nothing goes out again.
    expect((await m.checkBacklogs()).map((o) => o.result)).toEqual(['limited', 'limited', 'limited']);
    await m.close();
    await hook.close();
  });
});
