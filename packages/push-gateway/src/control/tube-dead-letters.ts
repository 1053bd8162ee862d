import { type Logger, noopLogger } from '@dispatcher/core';
import type { BeanstalkPool } from '../beanstalk/beanstalk-pool.js';
import type { BeanstalkJob } from '../beanstalk/beanstalk-types.js';
import { PushError } from '../errors.js';
import { decodeJob, encodeJob } from '../job/job-codec.js';
import { channelTube, DEFAULT_CHANNEL_PREFIX, deadLetterTube } from '../job/tube-names.js';
import type { Subscription } from '../subscriptions/subscription.js';
import type { DeadLetter, DeadLetterAdmin, RedriveEdits } from './control-ports.js';

/** Options of {@link TubeDeadLetters}. */
export interface TubeDeadLettersOptions {
  pool: Pick<BeanstalkPool, 'addresses' | 'createReserveClient' | 'release' | 'put'>;
  subscriptions: { get(id: number): Promise<Subscription | undefined> };
  /** @defaultValue `'sub-queue/'` */
  channelPrefix?: string;
  /** Most jobs looked at to find one dead letter, per server. @defaultValue `10000` */
  maxScan?: number;
  logger?: Logger;
}

type ReserveClient = ReturnType<TubeDeadLettersOptions['pool']['createReserveClient']>;

/**
 * Dead letters kept as ready jobs in `<topic>/sub-queue/<id>/DEAD` on each server. beanstalkd cannot list or
 * fetch a job by id without reserving it, so each call reserves jobs of the dead-letter tube on its own
 * connection, works on them and releases the rest unchanged (a concurrent call may briefly see fewer letters).
 * Letter ids are `<server>/<jobId>`.
 */
export class TubeDeadLetters implements DeadLetterAdmin {
  readonly #o: TubeDeadLettersOptions;
  readonly #log: Logger;

  constructor(options: TubeDeadLettersOptions) {
    this.#o = options;
    this.#log = (options.logger ?? noopLogger).child({ component: 'dead-letters' });
  }

  async list(subscriptionId: number, options: { limit?: number } = {}): Promise<DeadLetter[]> {
    const sub = await this.#sub(subscriptionId);
    const limit = options.limit ?? 100;
    const out: DeadLetter[] = [];
    for (const address of this.#o.pool.addresses) {
      if (out.length >= limit) break;
      await this.#withTube(address, sub, async (client, held) => {
        while (out.length < limit) {
          const job = await client.reserve(0);
          if (!job) break;
          held.push(job);
          out.push(this.#letter(address, sub, job));
        }
      });
    }
    return out;
  }

  async redrive(subscriptionId: number, id: string, edits: RedriveEdits = {}): Promise<void> {
    const sub = await this.#sub(subscriptionId);
    const { address, jobId } = this.#parseId(id);
    const found = await this.#withTube(address, sub, async (client, held) => {
      const job = await this.#find(client, held, jobId);
      if (!job) return false;
      const msg = decodeJob(job.payload);
      const next = { ...msg, retryTimes: 0, ...(edits.body === undefined ? {} : { body: edits.body }) };
      const prefix = this.#o.channelPrefix ?? DEFAULT_CHANNEL_PREFIX;
      // Put first, then delete: a crash in between leaves a copy, never a loss.
      await this.#o.pool.put(channelTube(sub.topic, sub.id, prefix), encodeJob(next), {
        preferAddress: address,
        delaySec: edits.delaySeconds ?? 0,
      });
      await client.delete(job.id);
      held.splice(held.indexOf(job), 1);
      return true;
    });
    if (!found) throw new PushError('DSP_PUSH_NOT_FOUND', `dead letter ${id} not found`);
    this.#log.info({ subscriptionId, id }, 'dead letter redriven');
  }

  async remove(subscriptionId: number, id: string): Promise<boolean> {
    const sub = await this.#sub(subscriptionId);
    const { address, jobId } = this.#parseId(id);
    return this.#withTube(address, sub, async (client, held) => {
      const job = await this.#find(client, held, jobId);
      if (!job) return false;
      await client.delete(job.id);
      held.splice(held.indexOf(job), 1);
      return true;
    });
  }

  /** Reserves jobs until `jobId` turns up (or the tube is exhausted); every job seen stays in `held`. */
  async #find(client: ReserveClient, held: BeanstalkJob[], jobId: number): Promise<BeanstalkJob | undefined> {
    const max = this.#o.maxScan ?? 10_000;
    for (let i = 0; i < max; i += 1) {
      const job = await client.reserve(0);
      if (!job) return undefined;
      held.push(job);
      if (job.id === jobId) return job;
    }
    return undefined;
  }

  async #withTube<T>(
    address: string,
    sub: Subscription,
    work: (client: ReserveClient, held: BeanstalkJob[]) => Promise<T>,
  ): Promise<T> {
    const client = this.#o.pool.createReserveClient(address);
    const held: BeanstalkJob[] = [];
    try {
      await client.watch(deadLetterTube(sub.topic, sub.id, this.#o.channelPrefix ?? DEFAULT_CHANNEL_PREFIX));
      await client.ignore('default');
      return await work(client, held);
    } finally {
      for (const job of held) {
        await client
          .release(job.id)
          .catch((err: unknown) => this.#log.warn({ err, jobId: job.id }, 'release failed'));
      }
      await this.#o.pool.release(client);
    }
  }

  #letter(address: string, sub: Subscription, job: BeanstalkJob): DeadLetter {
    try {
      const msg = decodeJob(job.payload);
      return {
        id: `${address}/${job.id}`,
        subscriptionId: sub.id,
        topic: sub.topic,
        body: msg.body,
        retryTimes: msg.retryTimes,
        time: msg.time,
      };
    } catch (err) {
      return {
        id: `${address}/${job.id}`,
        subscriptionId: sub.id,
        topic: sub.topic,
        body: null,
        retryTimes: 0,
        lastError: `undecodable job: ${(err as Error).message}`,
      };
    }
  }

  async #sub(id: number): Promise<Subscription> {
    const sub = await this.#o.subscriptions.get(id);
    if (!sub) throw new PushError('DSP_PUSH_NOT_FOUND', `subscription ${id} not found`);
    return sub;
  }

  #parseId(id: string): { address: string; jobId: number } {
    const at = id.lastIndexOf('/');
    const address = id.slice(0, at);
    const jobId = Number(id.slice(at + 1));
    if (at <= 0 || !Number.isInteger(jobId) || jobId <= 0 || !this.#o.pool.addresses.includes(address)) {
      throw new PushError('DSP_PUSH_NOT_FOUND', `dead letter ${id} not found`);
    }
    return { address, jobId };
  }
}
