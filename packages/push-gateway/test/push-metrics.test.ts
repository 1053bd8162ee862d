import { getFreePort, startBeanstalkd } from '@dispatcher/tooling';
import { describe, expect, it } from 'vitest';
import { tubeBacklogSource } from '../src/alerts/tube-backlog-source.js';
import { BeanstalkPool } from '../src/beanstalk/beanstalk-pool.js';
import { ControlServer } from '../src/control/control-server.js';
import { PushChannels, publishPushEvent } from '../src/events/push-events.js';
import { channelTube, DEFAULT_MAIN_TUBE } from '../src/job/tube-names.js';
import { beanstalkTubeStats, PushMetrics } from '../src/stats/push-metrics.js';
import { MemorySubscriptionAdmin } from './helpers/memory-subscription-admin.js';
import { subscriptionFixture } from './helpers/subscription-fixture.js';

/** Checks the text exposition format line by line; returns the samples. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(meta[3]);
        typed.add(meta[2] as string);
      }
      continue;
    }
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+]+|NaN|[+-]Inf)$/.exec(
        line,
      );
    expect(m, `bad exposition line: ${line}`).not.toBeNull();
    const name = m?.[1] as string;
    expect([...typed].some((t) => name === t || name.startsWith(`${t}_`))).toBe(true);
    samples.set(`${name}${m?.[2] ?? ''}`, Number(m?.[3]));
  }
  return samples;
}

describe('PushMetrics', () => {
  it('exposes every tube depth (main tube included) and push counters as valid exposition over /metrics', async () => {
    const bs = await startBeanstalkd();
    const dead = await getFreePort('127.0.0.1');
    const live = `127.0.0.1:${bs.port}`;
    const pool = new BeanstalkPool({ addresses: [live] });
    const unreachable = new BeanstalkPool({
      addresses: [`127.0.0.1:${dead}`],
      client: { commandTimeoutMs: 500, reconnectMinDelayMs: 50 },
    });
    await pool.connect();
    const metrics = new PushMetrics({
      tubes: beanstalkTubeStats(() => [...pool.clients, ...unreachable.clients], DEFAULT_MAIN_TUBE),
    });
    metrics.start();
    const server = new ControlServer({ subscriptions: new MemorySubscriptionAdmin(), metrics, port: 0 });
    try {
      // Before any message: the main tube is listed with zero ready jobs.
      const { port } = await server.start();
      const first = parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      expect(
        first.get(`medispatcher_tube_jobs{server="${live}",tube="${DEFAULT_MAIN_TUBE}",state="ready"}`),
      ).toBe(0);
      expect(first.get(`medispatcher_beanstalkd_up{server="127.0.0.1:${dead}"}`)).toBe(0);

      for (let i = 0; i < 3; i++) await pool.put(DEFAULT_MAIN_TUBE, Buffer.from('m'));
      for (let i = 0; i < 2; i++)
        await pool.put(channelTube('order.paid', 5), Buffer.from('c'), { delaySec: 60 });
      const base = {
        topic: 'order.paid',
        subscriptionId: 5,
        originJobId: 1,
        pushJobId: '1-1-5',
        at: 0,
        url: 'x',
      };
      publishPushEvent(PushChannels.sent, { ...base, retryTimes: 0, status: 200, durationMs: 12 });
      publishPushEvent(PushChannels.failed, {
        ...base,
        retryTimes: 0,
        status: 503,
        code: 'DSP_PUSH_HTTP_STATUS',
        durationMs: 30,
        willRetry: true,
      });
      publishPushEvent(PushChannels.deadLetter, { ...base, retryTimes: 9, tube: 'dead', reason: 'max' });
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const samples = parseExposition(await res.text());
      expect(
        samples.get(`medispatcher_tube_jobs{server="${live}",tube="${DEFAULT_MAIN_TUBE}",state="ready"}`),
      ).toBe(3);
      expect(
        samples.get(`medispatcher_tube_jobs{server="${live}",tube="order.paid/sub-queue/5",state="delayed"}`),
      ).toBe(2);
      expect(samples.get(`medispatcher_beanstalkd_up{server="${live}"}`)).toBe(1);
      expect(
        samples.get('medispatcher_pushes_total{topic="order.paid",subscription="5",outcome="sent"}'),
      ).toBe(1);
      expect(
        samples.get('medispatcher_pushes_total{topic="order.paid",subscription="5",outcome="failed"}'),
      ).toBe(1);
      expect(samples.get('medispatcher_dead_letters_total{topic="order.paid",subscription="5"}')).toBe(1);
      expect(samples.get('medispatcher_push_duration_seconds_count{outcome="sent"}')).toBe(1);
      // The same reads feed the backlog alerts.
      const backlog = tubeBacklogSource({
        tubes: beanstalkTubeStats(() => pool.clients, DEFAULT_MAIN_TUBE),
        subscriptions: { list: async () => [subscriptionFixture(5, 'order.paid')] },
        mainTube: DEFAULT_MAIN_TUBE,
      });
      expect(await backlog.backlog()).toEqual({
        main: 3,
        channels: [{ subscriptionId: 5, ready: 0, retryReady: 0 }],
      });
    } finally {
      await server.close();
      await metrics.close();
      await pool.close();
      await unreachable.close();
      await bs.stop();
    }
  });
});
