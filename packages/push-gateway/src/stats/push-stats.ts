import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type Logger, noopLogger } from '@dispatcher/core';
import type { Redis } from 'ioredis';
import { PushError } from '../errors.js';
import { PushChannels, type PushEventBase } from '../events/push-events.js';

/** One push's outcome, as the push engine reports it. */
export interface PushCount {
  topic: string;
  subscriptionId: number;
  /** True when the subscriber accepted the push. */
  ok: boolean;
  /** Pushes this outcome stands for. @defaultValue 1 */
  count?: number;
}

/** Options of {@link PushStats}. */
export interface PushStatsOptions {
  redis: Redis;
  /** Prefix of every key. @defaultValue `'dsp:push:stats'` */
  keyPrefix?: string;
  /** How often local counts are written to Redis, in milliseconds. @defaultValue `1000` */
  flushIntervalMs?: number;
  /** Whether {@link PushStats.start} counts the gateway's sent / failed push events by itself. @defaultValue `true` */
  listen?: boolean;
  /** Clock in epoch milliseconds (tests move it). @defaultValue `Date.now` */
  now?: () => number;
  logger?: Logger;
}

/** Defaults of {@link PushStatsOptions}. */
export const PUSH_STATS_DEFAULTS = {
  keyPrefix: 'dsp:push:stats',
  flushIntervalMs: 1_000,
} as const;

/** The windows reported, in seconds: 1 s, 10 s, 1 min, 1 h, 1 day. */
export const STATS_WINDOWS = { '1s': 1, '10s': 10, '1m': 60, '1h': 3_600, '1d': 86_400 } as const;
export type StatsWindow = keyof typeof STATS_WINDOWS;

/** Sent and failed pushes per window. */
export type WindowCounts = Record<StatsWindow, { sent: number; failed: number }>;

/** Windowed counts as the original's `GetPushStatistics` returns them. */
export interface LegacyWindowCounts {
  second: number;
  '10_second': number;
  minute: number;
  hour: number;
  day: number;
}

/** `{"ALL:<topic>" | "FAIL:<topic>" | "SUCCESS:<topic>": {"<subscriptionId>": counts}}` */
export type LegacyPushStatistics = Record<string, Record<string, LegacyWindowCounts>>;

/** Counts of one subscription. */
export interface SubscriptionStats {
  topic: string;
  subscriptionId: number;
  windows: WindowCounts;
}

/**
 * Buckets: seconds (for windows up to 1 min), minutes (1 h) and 10-minute spans (1 day). Each tier is one
 * Redis hash per scope and outcome whose fields are bucket numbers, trimmed to `keep` fields on write and
 * expiring when the scope goes quiet, so memory per scope is bounded and idle scopes vanish.
 */
const TIERS = [
  { name: 's', seconds: 1, keep: 64 },
  { name: 'm', seconds: 60, keep: 64 },
  { name: 'x', seconds: 600, keep: 150 },
] as const;
type TierName = (typeof TIERS)[number]['name'];

/** Which tier serves a window, and whether the current (incomplete) bucket counts. */
const WINDOW_TIER: Record<StatsWindow, { tier: TierName; buckets: number; current: boolean }> = {
  // Second windows end at the last complete second, as the original's "last second" did.
  '1s': { tier: 's', buckets: 1, current: false },
  '10s': { tier: 's', buckets: 10, current: false },
  '1m': { tier: 's', buckets: 60, current: false },
  '1h': { tier: 'm', buckets: 60, current: true },
  '1d': { tier: 'x', buckets: 144, current: true },
};

const DAY_MS = 86_400_000;

// Per key: HINCRBY the bucket, drop fields older than the tier keeps once the hash grows past it, refresh the TTL.
const FLUSH_SCRIPT = `
for i = 1, #KEYS do
  local b = (i - 1) * 4
  local key = KEYS[i]
  redis.call('HINCRBY', key, ARGV[b + 1], ARGV[b + 2])
  local keep = tonumber(ARGV[b + 3])
  if redis.call('HLEN', key) > keep + 4 then
    local oldest = tonumber(ARGV[b + 1]) - keep
    for _, f in ipairs(redis.call('HKEYS', key)) do
      if tonumber(f) <= oldest then redis.call('HDEL', key, f) end
    end
  end
  redis.call('PEXPIRE', key, ARGV[b + 4])
end
return #KEYS`;

type Outcome = 'sent' | 'failed';

/**
 * Push statistics shared by every instance through Redis: sent and failed counts per topic and per
 * subscription over 1 s, 10 s, 1 min, 1 h and 1 day. {@link record} only counts in memory; the counts are
 * written once per flush interval in one script call, so the push path never waits on Redis.
 */
export class PushStats {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #flushMs: number;
  readonly #now: () => number;
  readonly #log: Logger;
  /** scope → outcome → count, since the last flush. */
  #pending = new Map<string, { topic: string; subscriptionId: number; sent: number; failed: number }>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;
  readonly #listen: boolean;
  #listening = false;
  readonly #onSent = (m: unknown) => this.#fromEvent(m as PushEventBase, true);
  readonly #onFailed = (m: unknown) => this.#fromEvent(m as PushEventBase, false);

  constructor(options: PushStatsOptions) {
    this.#listen = options.listen ?? true;
    this.#redis = options.redis;
    this.#prefix = options.keyPrefix ?? PUSH_STATS_DEFAULTS.keyPrefix;
    this.#flushMs = options.flushIntervalMs ?? PUSH_STATS_DEFAULTS.flushIntervalMs;
    this.#now = options.now ?? Date.now;
    this.#log = (options.logger ?? noopLogger).child({ component: 'push-stats' });
    this.#redis.defineCommand('dspStatsFlush', { lua: FLUSH_SCRIPT });
  }

  /** Starts the periodic flush and (unless `listen: false`) counting the push events. */
  start(): void {
    if (this.#closing) throw new PushError('DSP_PUSH_CLOSED', 'push stats are closed');
    if (this.#listen && !this.#listening) {
      this.#listening = true;
      subscribe(PushChannels.sent, this.#onSent);
      subscribe(PushChannels.failed, this.#onFailed);
    }
    this.#timer ??= setInterval(() => {
      void this.flush().catch((err: unknown) => this.#log.warn({ err }, 'stats flush failed'));
    }, this.#flushMs);
    this.#timer.unref();
  }

  /** Counts one outcome (in memory until the next flush). */
  record(outcome: PushCount): void {
    const key = `${outcome.subscriptionId}\n${outcome.topic}`;
    let entry = this.#pending.get(key);
    if (!entry) {
      entry = { topic: outcome.topic, subscriptionId: outcome.subscriptionId, sent: 0, failed: 0 };
      this.#pending.set(key, entry);
    }
    entry[outcome.ok ? 'sent' : 'failed'] += outcome.count ?? 1;
  }

  /** Writes the counts gathered since the last flush; on failure they are kept for the next one. */
  flush(): Promise<void> {
    // Flushes run one after another; a failed one does not stop the next.
    const run = this.#flushing.then(
      () => this.#flushNow(),
      () => this.#flushNow(),
    );
    this.#flushing = run;
    return run;
  }

  async #flushNow(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    const nowMs = this.#now();
    const nowS = Math.floor(nowMs / 1000);
    const byKey = new Map<string, { field: number; incr: number; keep: number; ttlMs: number }>();
    const add = (scope: string, outcome: Outcome, n: number) => {
      if (n === 0) return;
      for (const t of TIERS) {
        const key = this.#key(t.name, outcome, scope);
        const field = Math.floor(nowS / t.seconds);
        const cur = byKey.get(key);
        if (cur) cur.incr += n;
        else byKey.set(key, { field, incr: n, keep: t.keep, ttlMs: (t.keep + 2) * t.seconds * 1000 });
      }
    };
    const index: (string | number)[] = [];
    for (const e of batch.values()) {
      for (const outcome of ['sent', 'failed'] as const) {
        add(`s:${e.subscriptionId}`, outcome, e[outcome]);
        add(`t:${e.topic}`, outcome, e[outcome]);
      }
      index.push(nowMs, JSON.stringify([e.topic, e.subscriptionId]));
    }
    const keys = [...byKey.keys()];
    const argv = [...byKey.values()].flatMap((v) => [v.field, v.incr, v.keep, v.ttlMs]);
    try {
      const pipe = this.#redis.pipeline();
      (pipe as unknown as { dspStatsFlush(n: number, ...a: (string | number)[]): void }).dspStatsFlush(
        keys.length,
        ...keys,
        ...argv,
      );
      pipe.zadd(this.#indexKey(), ...index);
      pipe.zremrangebyscore(this.#indexKey(), '-inf', nowMs - DAY_MS);
      pipe.pexpire(this.#indexKey(), DAY_MS + 60_000);
      const results = await pipe.exec();
      const failed = results?.find(([err]) => err);
      if (failed?.[0]) throw failed[0];
    } catch (err) {
      // Put the counts back so a Redis outage loses nothing that the process still holds.
      for (const [k, e] of batch) {
        const cur = this.#pending.get(k);
        if (cur) {
          cur.sent += e.sent;
          cur.failed += e.failed;
        } else this.#pending.set(k, e);
      }
      throw err;
    }
  }

  /** Counts of one subscription. */
  async subscription(subscriptionId: number): Promise<WindowCounts> {
    return this.#windows(`s:${subscriptionId}`);
  }

  /** Counts of one topic (all its subscriptions). */
  async topic(topic: string): Promise<WindowCounts> {
    return this.#windows(`t:${topic}`);
  }

  /** Every subscription that pushed within the last day, with its counts. */
  async all(): Promise<SubscriptionStats[]> {
    const members = await this.#redis.zrangebyscore(this.#indexKey(), this.#now() - DAY_MS, '+inf');
    const seen = new Map<number, string>();
    for (const m of members) {
      const parsed = JSON.parse(m) as [string, number];
      seen.set(parsed[1], parsed[0]);
    }
    const out: SubscriptionStats[] = [];
    for (const [subscriptionId, topic] of seen) {
      out.push({ topic, subscriptionId, windows: await this.subscription(subscriptionId) });
    }
    return out.sort((a, b) => a.subscriptionId - b.subscriptionId);
  }

  /** The original's `GetPushStatistics` shape: `ALL:` / `SUCCESS:` / `FAIL:` + topic → subscription id → counts. */
  async legacySnapshot(): Promise<LegacyPushStatistics> {
    const out: LegacyPushStatistics = {};
    const legacy = (
      w: WindowCounts,
      pick: (c: { sent: number; failed: number }) => number,
    ): LegacyWindowCounts => ({
      second: pick(w['1s']),
      '10_second': pick(w['10s']),
      minute: pick(w['1m']),
      hour: pick(w['1h']),
      day: pick(w['1d']),
    });
    for (const s of await this.all()) {
      const id = String(s.subscriptionId);
      const put = (group: string, pick: (c: { sent: number; failed: number }) => number) => {
        const byId = out[`${group}:${s.topic}`] ?? {};
        byId[id] = legacy(s.windows, pick);
        out[`${group}:${s.topic}`] = byId;
      };
      put('ALL', (c) => c.sent + c.failed);
      put('SUCCESS', (c) => c.sent);
      put('FAIL', (c) => c.failed);
    }
    return out;
  }

  /** Stops the timer and writes what is left. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#listening) {
        unsubscribe(PushChannels.sent, this.#onSent);
        unsubscribe(PushChannels.failed, this.#onFailed);
      }
      if (this.#timer) clearInterval(this.#timer);
      this.#timer = undefined;
      try {
        await this.flush();
      } catch (err) {
        this.#log.warn({ err }, 'final stats flush failed');
      }
    })();
    return this.#closing;
  }

  #fromEvent(e: PushEventBase, ok: boolean): void {
    this.record({ topic: e.topic, subscriptionId: e.subscriptionId, ok });
  }

  async #windows(scope: string): Promise<WindowCounts> {
    const pipe = this.#redis.pipeline();
    const order: [TierName, Outcome][] = [];
    for (const t of TIERS) {
      for (const o of ['sent', 'failed'] as const) {
        pipe.hgetall(this.#key(t.name, o, scope));
        order.push([t.name, o]);
      }
    }
    const results = (await pipe.exec()) ?? [];
    const data = new Map<string, Record<string, string>>();
    results.forEach(([err, value], i) => {
      if (err) throw err;
      const [tier, outcome] = order[i] as [TierName, Outcome];
      data.set(`${tier}:${outcome}`, value as Record<string, string>);
    });
    const nowS = Math.floor(this.#now() / 1000);
    const out = {} as WindowCounts;
    for (const [name, spec] of Object.entries(WINDOW_TIER) as [
      StatsWindow,
      (typeof WINDOW_TIER)[StatsWindow],
    ][]) {
      const t = TIERS.find((x) => x.name === spec.tier) as (typeof TIERS)[number];
      const cur = Math.floor(nowS / t.seconds);
      const last = spec.current ? cur : cur - 1;
      const first = last - spec.buckets + 1;
      const sum = (o: Outcome) => {
        let n = 0;
        for (const [f, v] of Object.entries(data.get(`${spec.tier}:${o}`) ?? {})) {
          const b = Number(f);
          if (b >= first && b <= last) n += Number(v);
        }
        return n;
      };
      out[name] = { sent: sum('sent'), failed: sum('failed') };
    }
    return out;
  }

  #key(tier: TierName, outcome: Outcome, scope: string): string {
    return `${this.#prefix}:${tier}:${outcome}:${scope}`;
  }

  #indexKey(): string {
    return `${this.#prefix}:index`;
  }
}
