import { setMaxListeners } from 'node:events';
import { type Logger, noopLogger } from '@dispatcher/core';
import type { Redis } from 'ioredis';
import { DEFAULT_TTR_SEC } from '../beanstalk/beanstalk-client.js';
import type { BeanstalkPool } from '../beanstalk/beanstalk-pool.js';
import { DEFAULT_CHANNEL_PREFIX } from '../job/tube-names.js';
import type { Subscription } from '../subscriptions/subscription.js';
import type { SubscriptionChange, SubscriptionSource } from '../subscriptions/subscription-source.js';
import { type EndpointBreaker, endpointBreakers } from './endpoint-breaker.js';
import type { FailureLog } from './failure-log.js';
import { FleetLimiter } from './fleet-limiter.js';
import type { PushTransport } from './push-transport.js';
import { SubscriptionSenders } from './subscription-senders.js';

/** Options of {@link PushService}. */
export interface PushServiceOptions {
  pool: BeanstalkPool;
  source: SubscriptionSource;
  transport: PushTransport;
  /** Redis for the fleet-wide per-subscriber cap; without it the cap is not enforced. */
  redis?: Redis;
  /** Key prefix in Redis. @defaultValue 'medispatcher:' */
  keyPrefix?: string;
  /** `PrefixOfChannelQueue`. @defaultValue 'sub-queue/' */
  channelPrefix?: string;
  /** `RECEPTION_ENV`: picks `[T_ENV:X]`-tagged URLs. @defaultValue undefined */
  receptionEnv?: string;
  /** `broadcast_failure_log` writer (MySQL mode). @defaultValue undefined */
  failureLog?: FailureLog;
  /** Per-endpoint breaker. @defaultValue endpointBreakers() (core `CircuitBreaker` defaults) */
  breaker?: EndpointBreaker;
  /** `EnableMsgSentLog`: a SENT/RESENT DATA record per attempt. @defaultValue true */
  enableSentLog?: boolean;
  /** Time-to-run of the retry and dead-letter jobs this gateway puts, seconds (the original's 60). @defaultValue 60 */
  ttrSec?: number;
  /** How long `close()` lets pushes in flight finish before aborting them (their jobs are released), ms. @defaultValue 5000 */
  drainTimeoutMs?: number;
  /** @defaultValue noopLogger */
  logger?: Logger;
  /** DATA records. @defaultValue logger */
  dataLog?: Logger;
}

/**
 * Channel tubes → subscribers: one {@link SubscriptionSenders} per active subscription, kept in step with the source.
 * Also the control plane's `ChannelPauser` (structurally): {@link pause} holds a subscription's senders while its
 * queues are cleared.
 */
export class PushService {
  readonly #o: PushServiceOptions;
  readonly #log: Logger;
  readonly #senders = new Map<number, SubscriptionSenders>();
  readonly #ctx: ConstructorParameters<typeof SubscriptionSenders>[1];
  /** Pause holds per subscription id (nested clears each hold once). */
  readonly #pauses = new Map<number, number>();
  #unwatch: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  readonly #hardStop = new AbortController();

  constructor(options: PushServiceOptions) {
    this.#o = options;
    this.#log = (options.logger ?? noopLogger).child({ component: 'push' });
    // Every push in flight listens on the shutdown signal: one listener per concurrent push is expected.
    setMaxListeners(0, this.#hardStop.signal);
    this.#ctx = {
      pool: options.pool,
      transport: options.transport,
      breaker: options.breaker ?? endpointBreakers(),
      channelPrefix: options.channelPrefix ?? DEFAULT_CHANNEL_PREFIX,
      receptionEnv: options.receptionEnv,
      fleet: options.redis ? new FleetLimiter(options.redis, options.keyPrefix) : undefined,
      failureLog: options.failureLog,
      enableSentLog: options.enableSentLog ?? true,
      log: this.#log,
      data: options.dataLog ?? this.#log,
      hardStop: this.#hardStop.signal,
      ttrSec: options.ttrSec ?? DEFAULT_TTR_SEC,
    };
  }

  /** Starts senders for every active subscription and follows changes. */
  async start(): Promise<void> {
    this.#unwatch = this.#o.source.watch((change) => this.#apply(change));
    for (const sub of await this.#o.source.list()) this.#upsert(sub);
  }

  /** Subscriptions with running senders and their loop counts. */
  status(): { subscriptionId: number; topic: string; loops: number }[] {
    return [...this.#senders.values()].map((s) => ({
      subscriptionId: s.subscription.id,
      topic: s.subscription.topic,
      loops: s.loopCount,
    }));
  }

  /**
   * Holds a subscription's senders: resolves once none of its loops reserves any more (pushes in hand are
   * finished). Senders created meanwhile (a parameter or topic change) start paused. Undo with {@link resume}.
   */
  async pause(subscriptionId: number): Promise<void> {
    this.#pauses.set(subscriptionId, (this.#pauses.get(subscriptionId) ?? 0) + 1);
    await this.#senders.get(subscriptionId)?.pause();
  }

  /** Releases one {@link pause} hold; the senders run again when none is left. */
  async resume(subscriptionId: number): Promise<void> {
    const holds = (this.#pauses.get(subscriptionId) ?? 0) - 1;
    if (holds > 0) {
      this.#pauses.set(subscriptionId, holds);
      return;
    }
    this.#pauses.delete(subscriptionId);
    if (!this.#closing) this.#senders.get(subscriptionId)?.resume();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#unwatch?.();
      const drained = Promise.allSettled([...this.#senders.values()].map((s) => s.close()));
      const timer = setTimeout(() => this.#hardStop.abort(), this.#o.drainTimeoutMs ?? 5_000);
      await drained;
      clearTimeout(timer);
      this.#senders.clear();
    })();
    return this.#closing;
  }

  #apply(change: SubscriptionChange): void {
    if (this.#closing) return;
    if (change.kind === 'upsert') this.#upsert(change.subscription);
    else this.#remove(change.id);
  }

  #upsert(sub: Subscription): void {
    const current = this.#senders.get(sub.id);
    if (current && current.subscription.topic === sub.topic) {
      current.update(sub);
      this.#log.info(
        {
          subscriptionId: sub.id,
          concurrency: sub.params.concurrency,
          retryConcurrency: sub.params.retryConcurrency,
        },
        'subscription updated',
      );
      return;
    }
    if (current) this.#remove(sub.id);
    const senders = new SubscriptionSenders(sub, this.#ctx);
    this.#senders.set(sub.id, senders);
    if (this.#pauses.has(sub.id)) void senders.pause();
    else senders.start();
  }

  #remove(id: number): void {
    const senders = this.#senders.get(id);
    if (!senders) return;
    this.#senders.delete(id);
    void senders.close();
  }
}
