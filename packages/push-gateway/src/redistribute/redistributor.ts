/**
 * Main tube → channel tubes. Each listener owns a reserve connection to one server, reserves a message from the
 * main tube and copies it into `<topic>/sub-queue/<id>` of every matching subscription, then deletes it.
 *
 * Crash safety: the main job stays reserved (its TTR runs, and is touched while we work), so a killed process's
 * job comes back by itself. Copies already made are recorded in Redis per (server, main job id) with
 * HSET before the main job is deleted, so a message reserved again after a crash skips the subscriptions
 * it already reached (at most the one copy in flight at the crash is repeated).
 */
import { type Logger, noopLogger } from '@dispatcher/core';
import type { Redis } from 'ioredis';
import type { BeanstalkClient } from '../beanstalk/beanstalk-client.js';
import { DEFAULT_PRIORITY, DEFAULT_TTR_SEC } from '../beanstalk/beanstalk-client.js';
import type { BeanstalkPool } from '../beanstalk/beanstalk-pool.js';
import type { BeanstalkJob } from '../beanstalk/beanstalk-types.js';
import { JobKeepAlive } from '../beanstalk/job-keep-alive.js';
import { runLoop } from '../beanstalk/run-loop.js';
import { PushError } from '../errors.js';
import { PushChannels, publishPushEvent } from '../events/push-events.js';
import { decodeJob, encodeJob } from '../job/job-codec.js';
import type { JobMessage } from '../job/job-message.js';
import { channelTube, DEFAULT_CHANNEL_PREFIX, DEFAULT_MAIN_TUBE } from '../job/tube-names.js';
import type { SubscriptionSource } from '../subscriptions/subscription-source.js';

/** Options of {@link Redistributor}. */
export interface RedistributorOptions {
  pool: BeanstalkPool;
  source: SubscriptionSource;
  /** Redis for the de-duplication records. */
  redis: Redis;
  /** `NameOfMainQueue`. @defaultValue 'main-incoming-queue' */
  mainTube?: string;
  /** `PrefixOfChannelQueue`. @defaultValue 'sub-queue/' */
  channelPrefix?: string;
  /** `ListenersOfMainQueue`: reserve connections per server. @defaultValue 1 */
  listenersPerServer?: number;
  /** `RunAtBench`: only subscriptions with `receiveBench` get messages. @defaultValue false */
  runAtBench?: boolean;
  /** Key prefix of the Redis records. @defaultValue 'medispatcher:' */
  keyPrefix?: string;
  /** How long a de-duplication record lives, seconds. @defaultValue 86400 */
  dedupeTtlSec?: number;
  /** Delay before a message whose copy failed is tried again, seconds (the original's 1 s). @defaultValue 1 */
  retryDelaySec?: number;
  /** How long a backlog count is reused before asking beanstalkd again, ms. @defaultValue 1000 */
  backlogCacheMs?: number;
  /** Time-to-run of the channel copies, seconds (the original's 60). @defaultValue 60 */
  ttrSec?: number;
  /** @defaultValue noopLogger */
  logger?: Logger;
  /** DATA records (REDISTFAIL, DELFAIL, DECODERR, DROPPED…); one JSON line each. @defaultValue logger */
  dataLog?: Logger;
}

export class Redistributor {
  readonly #o: Required<Omit<RedistributorOptions, 'logger' | 'dataLog'>>;
  readonly #log: Logger;
  readonly #data: Logger;
  readonly #abort = new AbortController();
  readonly #loops: Promise<void>[] = [];
  readonly #backlog = new Map<string, { at: number; value: number }>();
  #started = false;

  constructor(options: RedistributorOptions) {
    this.#o = {
      mainTube: DEFAULT_MAIN_TUBE,
      channelPrefix: DEFAULT_CHANNEL_PREFIX,
      listenersPerServer: 1,
      runAtBench: false,
      keyPrefix: 'medispatcher:',
      dedupeTtlSec: 86_400,
      retryDelaySec: 1,
      backlogCacheMs: 1_000,
      ttrSec: DEFAULT_TTR_SEC,
      ...options,
    };
    this.#log = (options.logger ?? noopLogger).child({ component: 'redistributor' });
    this.#data = options.dataLog ?? this.#log;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const address of this.#o.pool.addresses)
      for (let i = 0; i < this.#o.listenersPerServer; i++) this.#loops.push(this.#listen(address));
  }

  /** Stops reserving, finishes the messages in hand, closes the connections. */
  async close(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled(this.#loops);
  }

  async #listen(address: string): Promise<void> {
    const signal = this.#abort.signal;
    const client = this.#o.pool.createReserveClient(address);
    try {
      await runLoop({
        signal,
        log: this.#log,
        what: `redistribute from ${address}`,
        setup: async () => {
          await client.watch(this.#o.mainTube);
          await client.ignore('default');
        },
        step: async () => {
          const job = await client.reserve(1, { signal });
          if (job) await this.#handle(client, job);
        },
      });
    } finally {
      await this.#o.pool.release(client);
    }
  }

  async #handle(client: BeanstalkClient, job: BeanstalkJob): Promise<void> {
    let msg: JobMessage;
    try {
      msg = decodeJob(job.payload);
    } catch (err) {
      this.#data.error(
        {
          record: 'DECODERR',
          tube: this.#o.mainTube,
          jobId: job.id,
          beanstalkd: client.address,
          payloadBase64: job.payload.toString('base64'),
          err,
        },
        'DATA',
      );
      await this.#delete(client, job, undefined);
      return;
    }
    const keepAlive = new JobKeepAlive(client, job.id, this.#o.ttrSec, this.#log);
    try {
      const done = await this.#copy(client, job, msg);
      if (!done) {
        // Some copy failed: give the message back; copies made are remembered and skipped next time.
        await client
          .release(job.id, { delaySec: this.#o.retryDelaySec, priority: DEFAULT_PRIORITY })
          .catch((err: unknown) => {
            this.#log.warn({ err, jobId: job.id }, 'release failed; the job returns after its TTR');
          });
        return;
      }
    } finally {
      keepAlive.stop();
    }
    await this.#delete(client, job, msg);
  }

  /** Copies into every matching channel; false when one failed (the message must be tried again). */
  async #copy(client: BeanstalkClient, job: BeanstalkJob, msg: JobMessage): Promise<boolean> {
    const subs = (await this.#o.source.listByTopic(msg.msgKey)).filter(
      (s) => !this.#o.runAtBench || s.params.receiveBench,
    );
    if (subs.length === 0) return true;
    const key = `${this.#o.keyPrefix}redist:${client.address}:${job.id}:${msg.time}`;
    const already = new Set(await this.#o.redis.hkeys(key));
    const copy: JobMessage = { ...msg, originJobId: job.id, retryTimes: 0 };
    const body = encodeJob(copy);
    const served: number[] = [];
    let ok = true;
    for (const sub of subs) {
      if (already.has(String(sub.id))) continue;
      const tube = channelTube(msg.msgKey, sub.id, this.#o.channelPrefix);
      if (sub.params.backlog.threshold > 0 && sub.params.backlog.action !== 'keep') {
        const backlog = await this.#backlogOf(tube);
        if (backlog >= sub.params.backlog.threshold) {
          const action = sub.params.backlog.action;
          this.#data.warn(
            {
              record: action === 'log' ? 'DROPLOGGED' : 'DROPPED',
              topic: msg.msgKey,
              subscriptionId: sub.id,
              originJobId: job.id,
              backlog,
              body: msg.body,
            },
            'DATA',
          );
          publishPushEvent(PushChannels.backlogDrop, {
            topic: msg.msgKey,
            subscriptionId: sub.id,
            originJobId: job.id,
            action,
            backlog,
            at: Date.now(),
          });
          await this.#o.redis.hset(key, String(sub.id), 'dropped');
          continue;
        }
      }
      try {
        await this.#o.pool.put(tube, body, {
          priority: DEFAULT_PRIORITY,
          ttrSec: this.#o.ttrSec,
          preferAddress: client.address,
        });
        await this.#o.redis.multi().hset(key, String(sub.id), '1').expire(key, this.#o.dedupeTtlSec).exec();
        served.push(sub.id);
      } catch (err) {
        ok = false;
        if (PushError.hasCode(err, 'DSP_PUSH_BEANSTALK_JOB_TOO_BIG')) {
          this.#data.error(
            {
              record: 'REDISTFAIL',
              topic: msg.msgKey,
              subscriptionId: sub.id,
              originJobId: job.id,
              body: msg.body,
              err,
            },
            'DATA',
          );
          await this.#o.redis.hset(key, String(sub.id), 'too-big').catch(() => {});
          ok = true;
          continue;
        }
        this.#log.warn(
          { err, topic: msg.msgKey, subscriptionId: sub.id, jobId: job.id },
          'copy to channel failed; retrying the message',
        );
        break;
      }
    }
    if (served.length > 0)
      publishPushEvent(PushChannels.redistributed, {
        topic: msg.msgKey,
        originJobId: job.id,
        subscriptionIds: served,
        at: Date.now(),
      });
    return ok;
  }

  async #backlogOf(tube: string): Promise<number> {
    const cached = this.#backlog.get(tube);
    if (cached && Date.now() - cached.at < this.#o.backlogCacheMs) return cached.value;
    const value = await this.#o.pool.tubeCount(tube, 'current-jobs-ready');
    this.#backlog.set(tube, { at: Date.now(), value });
    return value;
  }

  async #delete(client: BeanstalkClient, job: BeanstalkJob, msg: JobMessage | undefined): Promise<void> {
    try {
      await client.delete(job.id);
    } catch (err) {
      // The job comes back after its TTR; the Redis record keeps it from being copied twice.
      this.#data.warn(
        {
          record: 'DELFAIL',
          tube: this.#o.mainTube,
          jobId: job.id,
          beanstalkd: client.address,
          topic: msg?.msgKey,
          err,
        },
        'DATA',
      );
    }
  }
}
