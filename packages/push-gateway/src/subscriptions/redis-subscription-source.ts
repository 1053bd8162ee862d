import type { Redis } from 'ioredis';
import { PushError } from '../errors.js';
import { type PollingSourceOptions, PollingSubscriptionSource } from './polling-subscription-source.js';
import type { Subscription, SubscriptionParamsPatch } from './subscription.js';
import { SUBSCRIPTION_DEFAULTS, type SubscriptionDefaults } from './subscription-defaults.js';
import { patchToRows, resolveParams } from './subscription-params.js';
import type { CreateSubscriptionInput, WritableSubscriptionSource } from './subscription-source.js';

/** Options of {@link RedisSubscriptionSource}. */
export interface RedisSubscriptionSourceOptions extends PollingSourceOptions {
  /** ioredis connection; the caller owns it (not closed by `close()`). */
  redis: Redis;
  /** Key prefix. @defaultValue 'medispatcher:' */
  keyPrefix?: string;
  /** Defaults and caps from the gateway config. @defaultValue SUBSCRIPTION_DEFAULTS */
  defaults?: SubscriptionDefaults;
}

/**
 * Subscriptions kept in Redis only (new deployments without the MySQL control panel):
 * `<prefix>subscriptions` (set of ids), `<prefix>subscription:<id>` (hash: topic, subscriberId, receptionChannel),
 * `<prefix>subscription:<id>:params` (hash with the original param names), `<prefix>subscription-seq` (ids).
 */
export class RedisSubscriptionSource extends PollingSubscriptionSource implements WritableSubscriptionSource {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #defaults: SubscriptionDefaults;

  constructor(options: RedisSubscriptionSourceOptions) {
    super(options);
    this.#redis = options.redis;
    this.#prefix = options.keyPrefix ?? 'medispatcher:';
    this.#defaults = options.defaults ?? SUBSCRIPTION_DEFAULTS;
  }

  async create(input: CreateSubscriptionInput): Promise<Subscription> {
    if (!input.topic || /\s/.test(input.topic))
      throw new PushError('DSP_PUSH_INVALID_ARGUMENT', `invalid topic ${JSON.stringify(input.topic)}`);
    const id = input.id ?? (await this.#redis.incr(`${this.#prefix}subscription-seq`));
    const key = this.#key(id);
    const multi = this.#redis
      .multi()
      .hset(key, {
        topic: input.topic,
        subscriberId: String(input.subscriberId),
        receptionChannel: input.receptionChannel,
      })
      .sadd(`${this.#prefix}subscriptions`, String(id));
    const rows = input.params ? patchToRows(input.params) : {};
    if (Object.keys(rows).length > 0) multi.hset(`${key}:params`, rows);
    await multi.exec();
    await this.refresh();
    const created = await this.loadOne(id);
    if (!created)
      throw new PushError('DSP_PUSH_STORE_FAILED', `subscription ${id} not readable after create`);
    return created;
  }

  async remove(id: number): Promise<boolean> {
    const [[, removed] = []] = (await this.#redis
      .multi()
      .srem(`${this.#prefix}subscriptions`, String(id))
      .del(this.#key(id), `${this.#key(id)}:params`)
      .exec()) as [Error | null, unknown][];
    await this.refresh();
    return Number(removed) > 0;
  }

  protected async load(): Promise<Subscription[]> {
    const ids = (await this.#redis.smembers(`${this.#prefix}subscriptions`))
      .map(Number)
      .sort((a, b) => a - b);
    if (ids.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.#key(id)).hgetall(`${this.#key(id)}:params`);
    const results = (await pipeline.exec()) ?? [];
    const out: Subscription[] = [];
    ids.forEach((id, i) => {
      const [err1, head] = results[i * 2] ?? [];
      const [err2, params] = results[i * 2 + 1] ?? [];
      if (err1 || err2) throw err1 ?? err2;
      const sub = this.#build(id, head as Record<string, string>, params as Record<string, string>);
      if (sub) out.push(sub);
    });
    return out;
  }

  protected async loadOne(id: number): Promise<Subscription | undefined> {
    const [head, params] = await Promise.all([
      this.#redis.hgetall(this.#key(id)),
      this.#redis.hgetall(`${this.#key(id)}:params`),
    ]);
    return this.#build(id, head, params);
  }

  protected async writeParams(id: number, patch: SubscriptionParamsPatch): Promise<void> {
    const rows = patchToRows(patch);
    if (Object.keys(rows).length > 0) await this.#redis.hset(`${this.#key(id)}:params`, rows);
  }

  protected async release(): Promise<void> {}

  #build(id: number, head: Record<string, string>, params: Record<string, string>): Subscription | undefined {
    if (!head.topic) return undefined;
    const receptionChannel = head.receptionChannel ?? '';
    return {
      id,
      topic: head.topic,
      subscriberId: Number(head.subscriberId ?? 0),
      receptionChannel,
      params: resolveParams(params, receptionChannel, this.#defaults),
    };
  }

  #key(id: number): string {
    return `${this.#prefix}subscription:${id}`;
  }
}
