import { type Logger, noopLogger } from '@dispatcher/core';
import type { BeanstalkClientApi } from '../beanstalk/beanstalk-types.js';
import { PushError } from '../errors.js';
import { channelTube, DEFAULT_CHANNEL_PREFIX, retryTube } from '../job/tube-names.js';
import type { Subscription } from '../subscriptions/subscription.js';
import type { ChannelPauser, ClearReport, QueueClearing } from './control-ports.js';
import type { TubeCleaner } from './rpc/rpc-commands.js';

/** Options of {@link QueueClearer}. */
export interface QueueClearerOptions {
  /** One command connection per beanstalkd server (e.g. `BeanstalkPool.clients`). */
  clients: () => readonly BeanstalkClientApi[];
  subscriptions: {
    get(id: number): Promise<Subscription | undefined>;
    listByTopic(topic: string): Promise<Subscription[]>;
  };
  /** Holds a subscription's senders while its tubes are cleared; without it they keep pushing meanwhile. */
  pauser?: ChannelPauser;
  /** Prefix of channel tube names. @defaultValue `'sub-queue/'` */
  channelPrefix?: string;
  logger?: Logger;
}

/** Jobs a tube held when the clear began. */
interface Budget {
  total: number;
  delayed: number;
}

const isNotFound = (err: unknown) => (err as { code?: string }).code === 'DSP_PUSH_BEANSTALK_NOT_FOUND';

/**
 * Clears a subscription's channel and retry tubes on every server: senders paused, then at most as many jobs
 * deleted as the tube held when the clear began (buried first, then delayed ones kicked and deleted with the
 * ready ones), then senders resumed. Because the amount is fixed at the start, a clear ends even while the
 * redistributor keeps adding messages; those arriving after the start are kept. Dead-letter tubes are left alone.
 */
export class QueueClearer implements QueueClearing, TubeCleaner {
  readonly #o: QueueClearerOptions;
  readonly #log: Logger;
  readonly #running = new Set<number>();

  constructor(options: QueueClearerOptions) {
    this.#o = options;
    this.#log = (options.logger ?? noopLogger).child({ component: 'queue-clearer' });
  }

  async clearSubscription(
    subscriptionId: number,
    options: { signal?: AbortSignal } = {},
  ): Promise<ClearReport> {
    const sub = await this.#o.subscriptions.get(subscriptionId);
    if (!sub) throw new PushError('DSP_PUSH_NOT_FOUND', `subscription ${subscriptionId} not found`);
    return this.#clearSubscriptions([sub], options.signal);
  }

  async clearTopic(topic: string, options: { signal?: AbortSignal } = {}): Promise<ClearReport> {
    const subs = await this.#o.subscriptions.listByTopic(topic);
    return this.#clearSubscriptions(subs, options.signal);
  }

  /** The legacy `CleanTopic`: one named tube on the servers given (those this gateway knows). */
  async clearTube(tube: string, servers: readonly string[]): Promise<{ deleted: number }> {
    const wanted = new Set(servers);
    const clients = this.#o.clients().filter((c) => wanted.size === 0 || wanted.has(c.address));
    let deleted = 0;
    for (const client of clients) deleted += await this.#clearOne(client, tube, undefined);
    return { deleted };
  }

  async #clearSubscriptions(
    subs: readonly Subscription[],
    signal: AbortSignal | undefined,
  ): Promise<ClearReport> {
    const busy = subs.filter((s) => this.#running.has(s.id));
    if (busy.length > 0) {
      throw new PushError(
        'DSP_PUSH_CONFLICT',
        `a clear of subscription ${busy.map((s) => s.id).join(', ')} is running`,
      );
    }
    for (const s of subs) this.#running.add(s.id);
    const report: ClearReport = { deleted: 0, tubes: [] };
    const paused: number[] = [];
    try {
      for (const s of subs) {
        await this.#o.pauser?.pause(s.id);
        paused.push(s.id);
      }
      const prefix = this.#o.channelPrefix ?? DEFAULT_CHANNEL_PREFIX;
      // Every tube's size is taken before anything is deleted: that is "what was there at the start".
      const targets: { client: BeanstalkClientApi; tube: string; budget: Budget }[] = [];
      for (const s of subs) {
        for (const tube of [channelTube(s.topic, s.id, prefix), retryTube(s.topic, s.id, prefix)]) {
          for (const client of this.#o.clients()) {
            const budget = await this.#budget(client, tube, signal);
            if (budget) targets.push({ client, tube, budget });
          }
        }
      }
      for (const t of targets) {
        const n = await this.#drain(t.client, t.tube, t.budget, signal);
        report.deleted += n;
        report.tubes.push({ server: t.client.address, tube: t.tube, deleted: n });
      }
    } finally {
      for (const id of paused) {
        try {
          await this.#o.pauser?.resume(id);
        } catch (err) {
          this.#log.error({ err, subscriptionId: id }, 'resuming senders after a clear failed');
        }
      }
      for (const s of subs) this.#running.delete(s.id);
    }
    this.#log.info({ subscriptions: subs.map((s) => s.id), deleted: report.deleted }, 'queues cleared');
    return report;
  }

  async #clearOne(
    client: BeanstalkClientApi,
    tube: string,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const budget = await this.#budget(client, tube, signal);
    return budget ? this.#drain(client, tube, budget, signal) : 0;
  }

  async #budget(
    client: BeanstalkClientApi,
    tube: string,
    signal: AbortSignal | undefined,
  ): Promise<Budget | undefined> {
    const stats = await client.statsTube(tube, signal ? { signal } : {});
    if (!stats) return undefined;
    const delayed = stats['current-jobs-delayed'];
    return { total: stats['current-jobs-ready'] + delayed + stats['current-jobs-buried'], delayed };
  }

  async #drain(
    client: BeanstalkClientApi,
    tube: string,
    budget: Budget,
    signal: AbortSignal | undefined,
  ): Promise<number> {
    const call = signal ? { signal } : {};
    let deleted = 0;
    // Each step looks at no more than the budget, so a tube that keeps filling cannot hold the clear forever;
    // jobs of one priority come out oldest first, so the ones there at the start go first.
    const drain = async (peek: () => Promise<{ id: number } | undefined>) => {
      for (let looked = 0; deleted < budget.total && looked < budget.total; looked += 1) {
        const job = await peek();
        if (!job) return;
        try {
          await client.delete(job.id, call);
          deleted += 1;
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
    };
    await drain(() => client.peekBuried({ tube, ...call }));
    if (budget.delayed > 0 && deleted < budget.total) await client.kick(budget.delayed, { tube, ...call });
    await drain(() => client.peekReady({ tube, ...call }));
    return deleted;
  }
}
