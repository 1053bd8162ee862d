/**
 * Crash test: under a steady load, the proxy process is killed with SIGKILL again and again. After the
 * final restart every request that got a 202 must be delivered (answered 2xx by the destination) at least
 * once. Duplicates are allowed (at-least-once) and reported.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  expectAllDelivered,
  expectAttemptNumbersAcrossKill,
  killUnderLoad,
  recordDeliveries,
} from './helpers/kill-loop.js';
import { type ProxyChild, spawnProxyChild } from './helpers/proxy-child.js';
import { Sink } from './helpers/sink.js';
import { eventually, onCleanup, tempDir } from './helpers/start-proxy.js';

const KILLS = Number(process.env.DISPATCHER_PROXY_CRASH_KILLS ?? 6);
const child = fileURLToPath(new URL('./fixtures/proxy-process.ts', import.meta.url));

function spawnProxy(dataDir: string, eventSourcing: boolean, deliveryThreads?: number): Promise<ProxyChild> {
  return spawnProxyChild(
    child,
    [dataDir, ...(eventSourcing ? ['event-sourcing'] : [])],
    deliveryThreads === undefined
      ? process.env
      : { ...process.env, DISPATCHER_PROXY_DELIVERY_THREADS: String(deliveryThreads) },
  );
}

/** True when the proxy at `url` holds no request and its log owes no write (every ack recorded). */
async function quiet(url: string): Promise<boolean> {
  const health = (await (await fetch(`${url}/_dispatcher/health`)).json()) as {
    backlog: number;
    inflight: number;
    log: { liveRecords: number; pendingRecords: number; owedAcks: number };
  };
  const { log } = health;
  return (
    health.backlog === 0 &&
    health.inflight === 0 &&
    log.liveRecords === 0 &&
    log.pendingRecords === 0 &&
    log.owedAcks === 0
  );
}

// Event-sourcing mode replays the full history at start-up: the original lost and duplicated messages there.
// Both modes are at least once: a delivery in flight at a kill (or whose ack was not yet durable) is repeated.
// Deliveries on worker threads (`deliveryThreads`): outcomes reach the log owner by message, and a kill loses
// the threads' calls in flight with everything else, so the guarantee is the same.
describe.each([
  { mode: 'default', eventSourcing: false, kills: KILLS, threads: undefined },
  {
    mode: 'event-sourcing',
    eventSourcing: true,
    kills: Math.max(1, Math.ceil(KILLS / 2)),
    threads: undefined,
  },
  {
    mode: 'two delivery threads',
    eventSourcing: false,
    kills: Math.max(1, Math.ceil(KILLS / 2)),
    threads: 2,
  },
  {
    mode: 'one delivery thread',
    eventSourcing: false,
    kills: Math.max(1, Math.ceil(KILLS / 2)),
    threads: 1,
  },
])('http proxy under SIGKILL ($mode mode)', ({ mode, eventSourcing, kills: KILLS, threads }) => {
  it(`delivers every 202'd request at least once across ${KILLS} kills under load`, async () => {
    const dataDir = tempDir();
    const sink = await new Sink().start();
    onCleanup(() => sink.close());
    const deliveries = recordDeliveries(sink);
    const { accepted, last } = await killUnderLoad(
      KILLS,
      () => spawnProxy(dataDir, eventSourcing, threads),
      sink.url,
    );
    await expectAllDelivered(`proxy crash test (${mode})`, KILLS, accepted, deliveries, 60_000);

    // Once everything is delivered and its ack durable, one more kill and restart delivers nothing again
    // (a replay of the history must not resend what was done).
    await eventually(() => quiet(last.url), 20_000);
    const before = deliveries.successes.length;
    await last.kill();
    const restarted = await spawnProxy(dataDir, eventSourcing, threads);
    // A sentinel sent after the restart: once it is delivered and the restarted proxy holds nothing,
    // whatever the replay queued has been attempted.
    const sentinel = await fetch(`${restarted.url}/sentinel`, {
      method: 'POST',
      headers: { 'x-dispatcher-origin-host': sink.url },
    });
    const sentinelId = ((await sentinel.json()) as { id: string }).id;
    await eventually(() => deliveries.delivered.has(sentinelId) && quiet(restarted.url), 20_000);
    const again = deliveries.successes.slice(before).filter((id) => id !== sentinelId);
    expect(again, 'deliveries after a restart with nothing pending').toEqual([]);
  }, 180_000);
});

describe('attempt numbers across SIGKILL', () => {
  it('numbers the first attempt after a restart one above the attempt in flight at the kill', async () => {
    const dataDir = tempDir();
    const dest = await new Sink().start();
    onCleanup(() => dest.close());
    await expectAttemptNumbersAcrossKill(dest, () => spawnProxy(dataDir, false));
  }, 60_000);
});
