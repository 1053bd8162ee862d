import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type Logger, noopLogger } from '@dispatcher/core';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BeanstalkClientApi } from '../beanstalk/beanstalk-types.js';
import {
  PushChannels,
  type PushDeadLetterEvent,
  type PushFailedEvent,
  type PushSentEvent,
  type RedistributedEvent,
} from '../events/push-events.js';

/** Job counts of one tube on one server. */
export interface TubeDepth {
  server: string;
  tube: string;
  ready: number;
  delayed: number;
  reserved: number;
  buried: number;
}

/** Reads tube depths at scrape time. */
export interface TubeStatsProvider {
  tubeDepths(options?: { signal?: AbortSignal }): Promise<{ depths: TubeDepth[]; failedServers: string[] }>;
}

/**
 * Depths of every tube on every server (`list-tubes` + `stats-tube`), the main tube always included (as zeros
 * where it does not exist yet), so a scrape shows the main tube's backlog even before the first message.
 */
export function beanstalkTubeStats(
  clients: () => readonly BeanstalkClientApi[],
  mainTube: string,
): TubeStatsProvider {
  return {
    async tubeDepths(options = {}) {
      const call = options.signal ? { signal: options.signal } : {};
      const depths: TubeDepth[] = [];
      const failedServers: string[] = [];
      await Promise.all(
        clients().map(async (client) => {
          try {
            const tubes = new Set(await client.listTubes(call));
            tubes.add(mainTube);
            for (const tube of tubes) {
              const s = await client.statsTube(tube, call);
              depths.push({
                server: client.address,
                tube,
                ready: s ? s['current-jobs-ready'] : 0,
                delayed: s ? s['current-jobs-delayed'] : 0,
                reserved: s ? s['current-jobs-reserved'] : 0,
                buried: s ? s['current-jobs-buried'] : 0,
              });
            }
          } catch {
            failedServers.push(client.address);
          }
        }),
      );
      return { depths, failedServers };
    },
  };
}

/** Options of {@link PushMetrics}. */
export interface PushMetricsOptions {
  /** Tube depths read at each scrape; without it no tube gauges. */
  tubes?: TubeStatsProvider;
  /** Registry to fill (e.g. one shared with other metrics). @defaultValue a new `Registry` */
  registry?: Registry;
  /** Prefix of every metric name. @defaultValue `'medispatcher_'` */
  prefix?: string;
  logger?: Logger;
}

/**
 * Prometheus metrics of the gateway: push, retry, dead-letter and redistribution counters and push latency
 * (from the gateway's diagnostics channels) and, read at scrape time, the depth of every tube on every
 * beanstalkd server including the main tube. Serve {@link metrics} with {@link contentType} at `/metrics`.
 */
export class PushMetrics {
  readonly registry: Registry;
  readonly #pushes: Counter<'topic' | 'subscription' | 'outcome'>;
  readonly #duration: Histogram<'outcome'>;
  readonly #deadLetters: Counter<'topic' | 'subscription'>;
  readonly #redistributed: Counter<'topic'>;
  readonly #log: Logger;
  #listening = false;
  readonly #handlers: [string, (m: unknown) => void][];

  constructor(options: PushMetricsOptions = {}) {
    const prefix = options.prefix ?? 'medispatcher_';
    this.registry = options.registry ?? new Registry();
    this.#log = (options.logger ?? noopLogger).child({ component: 'push-metrics' });
    const registers = [this.registry];
    this.#pushes = new Counter({
      name: `${prefix}pushes_total`,
      help: 'Push attempts by outcome (sent, failed).',
      labelNames: ['topic', 'subscription', 'outcome'],
      registers,
    });
    this.#duration = new Histogram({
      name: `${prefix}push_duration_seconds`,
      help: 'Time from push request start to response end.',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#deadLetters = new Counter({
      name: `${prefix}dead_letters_total`,
      help: 'Messages moved to a dead-letter tube after their last attempt.',
      labelNames: ['topic', 'subscription'],
      registers,
    });
    this.#redistributed = new Counter({
      name: `${prefix}redistributed_total`,
      help: 'Messages copied from the main tube into channel tubes.',
      labelNames: ['topic'],
      registers,
    });
    const tubes = options.tubes;
    if (tubes) {
      const log = this.#log;
      // Both gauges are collected concurrently on a scrape; they share one read of the servers.
      let reading: ReturnType<TubeStatsProvider['tubeDepths']> | undefined;
      const read = () => {
        reading ??= tubes.tubeDepths().finally(() => {
          setImmediate(() => {
            reading = undefined;
          });
        });
        return reading;
      };
      new Gauge({
        name: `${prefix}tube_jobs`,
        help: 'Jobs in a beanstalkd tube by state, per server; the main tube is always listed.',
        labelNames: ['server', 'tube', 'state'],
        registers,
        async collect() {
          // Reset first so tubes that disappeared stop being reported.
          this.reset();
          try {
            for (const d of (await read()).depths) {
              for (const state of ['ready', 'delayed', 'reserved', 'buried'] as const) {
                this.set({ server: d.server, tube: d.tube, state }, d[state]);
              }
            }
          } catch (err) {
            log.warn({ err }, 'tube depths not read');
          }
        },
      });
      new Gauge({
        name: `${prefix}beanstalkd_up`,
        help: 'Whether the beanstalkd server answered the last scrape (1) or not (0).',
        labelNames: ['server'],
        registers,
        async collect() {
          this.reset();
          try {
            const { depths, failedServers } = await read();
            for (const d of depths) this.set({ server: d.server }, 1);
            for (const server of failedServers) this.set({ server }, 0);
          } catch {
            // Logged by the tube gauge.
          }
        },
      });
    }
    this.#handlers = [
      [
        PushChannels.sent,
        (m) => {
          const e = m as PushSentEvent;
          this.#pushes.inc({ topic: e.topic, subscription: String(e.subscriptionId), outcome: 'sent' });
          this.#duration.observe({ outcome: 'sent' }, e.durationMs / 1000);
        },
      ],
      [
        PushChannels.failed,
        (m) => {
          const e = m as PushFailedEvent;
          this.#pushes.inc({ topic: e.topic, subscription: String(e.subscriptionId), outcome: 'failed' });
          this.#duration.observe({ outcome: 'failed' }, e.durationMs / 1000);
        },
      ],
      [
        PushChannels.deadLetter,
        (m) => {
          const e = m as PushDeadLetterEvent;
          this.#deadLetters.inc({ topic: e.topic, subscription: String(e.subscriptionId) });
        },
      ],
      [
        PushChannels.redistributed,
        (m) => {
          this.#redistributed.inc({ topic: (m as RedistributedEvent).topic });
        },
      ],
    ];
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** Starts counting the gateway's push events. */
  start(): void {
    if (this.#listening) return;
    this.#listening = true;
    for (const [name, fn] of this.#handlers) subscribe(name, fn);
  }

  /** Stops counting. */
  async close(): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    for (const [name, fn] of this.#handlers) unsubscribe(name, fn);
  }
}
