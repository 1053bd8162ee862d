/**
 * The crash tests' loop (embedded store and fleet): proxy processes killed with SIGKILL again and again
 * under a steady load, then a check that every request answered 202 was delivered (2xx) at least once.
 */
import { expect } from 'vitest';
import type { ProxyChild } from './proxy-child.js';
import type { Sink } from './sink.js';
import { eventually, sleep } from './start-proxy.js';

export interface Deliveries {
  /** Message ids of the 2xx answers, repeats included. */
  successes: string[];
  delivered: Set<string>;
}

/**
 * Makes `dest` answer 503 to every 7th request (so retry state is in flight when the kills land) and 200 to
 * the rest, recording those. Only a 2xx counts as delivered: a request attempted and then lost with its
 * retry state must not pass for delivered.
 */
export function recordDeliveries(dest: Sink): Deliveries {
  const deliveries: Deliveries = { successes: [], delivered: new Set() };
  dest.behave = (r, i) => {
    if (i % 7 === 3) return { kind: 'status', status: 503 };
    const id = String(r.headers['x-dispatcher-message-id']);
    deliveries.successes.push(id);
    deliveries.delivered.add(id);
    return { kind: 'status', status: 200 };
  };
  return deliveries;
}

/**
 * Starts a proxy `kills + 1` times. Every run but the last takes load from eight senders to `dest` and is
 * killed once it has accepted ten more requests (a busy machine may need seconds for the first 202s), at a
 * point that varies from kill to kill. Returns the ids answered 202 and the last run, left alive.
 */
export async function killUnderLoad<T extends ProxyChild>(
  kills: number,
  start: () => Promise<T>,
  dest: string,
): Promise<{ accepted: Set<string>; last: T }> {
  const accepted = new Set<string>();
  let sent = 0;
  for (let kill = 0; ; kill++) {
    const instance = await start();
    if (kill === kills) return { accepted, last: instance };
    let running = true;
    const load = async () => {
      while (running) {
        const n = sent++;
        try {
          const res = await fetch(`${instance.url}/item/${n}`, {
            method: 'POST',
            headers: { 'x-dispatcher-origin-host': dest },
            body: `payload ${n}`,
          });
          if (res.status === 202) accepted.add(((await res.json()) as { id: string }).id);
        } catch {
          // the process died mid-request: no 202, nothing promised
        }
      }
    };
    const before = accepted.size;
    const loaders = Array.from({ length: 8 }, load);
    await eventually(() => accepted.size >= before + 10, 60_000);
    await sleep((kill * 97) % 400);
    await instance.kill();
    running = false;
    await Promise.all(loaders);
  }
}

/** Waits up to `timeoutMs` for every accepted id to be delivered, logs the counts, and fails on a missing one. */
export async function expectAllDelivered(
  label: string,
  kills: number,
  accepted: Set<string>,
  { successes, delivered }: Deliveries,
  timeoutMs: number,
): Promise<void> {
  // On a timeout the assertion below names what is missing.
  await eventually(() => [...accepted].every((id) => delivered.has(id)), timeoutMs).catch(() => {});
  const missing = [...accepted].filter((id) => !delivered.has(id));
  const duplicates = successes.length - new Set(successes).size;
  console.log(
    `${label}: ${kills} kills, ${accepted.size} requests answered 202, ` +
      `${accepted.size - missing.length} delivered (2xx); ` +
      `${duplicates} duplicate deliveries (${((duplicates / Math.max(1, accepted.size)) * 100).toFixed(2)}%)`,
  );
  expect(accepted.size).toBeGreaterThan(kills * 5);
  expect(missing, 'accepted requests never answered 2xx by the destination').toEqual([]);
}

/**
 * Checks the attempt numbers across a kill: `/retried` is answered 503, then its second attempt hangs, as
 * does the first of `/fresh`; the proxy is killed with both in flight and started again (`start`), and the
 * first attempts after the restart must be numbered one above the ones cut short.
 */
export async function expectAttemptNumbersAcrossKill(
  dest: Sink,
  start: () => Promise<ProxyChild>,
  timeoutMs = 10_000,
): Promise<void> {
  const seen = (url: string) => dest.received.filter((r) => r.url === url);
  let hang = true;
  dest.behave = (r) => {
    const n = seen(r.url).length;
    if (r.url === '/retried' && n === 1) return { kind: 'status', status: 503 };
    return hang ? { kind: 'hang' } : { kind: 'status', status: 200 };
  };
  const first = await start();
  const ids: Record<string, string> = {};
  for (const path of ['/retried', '/fresh']) {
    const res = await fetch(`${first.url}${path}`, {
      method: 'POST',
      headers: { 'x-dispatcher-origin-host': dest.url },
      body: path,
    });
    expect(res.status).toBe(202);
    ids[path] = ((await res.json()) as { id: string }).id;
  }
  await eventually(() => seen('/retried').length === 2 && seen('/fresh').length === 1);
  await first.kill(); // attempt 2 of /retried and attempt 1 of /fresh are in flight

  hang = false;
  await start();
  await eventually(() => seen('/retried').length === 3 && seen('/fresh').length === 2, timeoutMs);
  const attempts = (url: string) =>
    seen(url).map((r) => [r.headers['x-dispatcher-message-id'], r.headers['x-dispatcher-attempt']]);
  expect(attempts('/retried')).toEqual([
    [ids['/retried'], '1'],
    [ids['/retried'], '2'],
    [ids['/retried'], '3'],
  ]);
  expect(attempts('/fresh')).toEqual([
    [ids['/fresh'], '1'],
    [ids['/fresh'], '2'],
  ]);
}
