/**
 * Main tube → channel tubes. Each listener owns a reserve connection to one server, reserves a message from the
 * main tube and copies it into `<topic>/sub-queue/<id>` of every matching subscription, then deletes it.
 *
 * Crash safety: the main job stays reserved (its TTR runs, and is touched while we work), so a killed process's
 * job comes back by itself. Copies already made are recorded in Redis per (server, main job id) with
 * HSET (batched per tick, see copy-records.ts) before the main job is deleted, so a message reserved again after a crash skips the subscriptions
 * it already reached (at most the one copy in flight at the crash is repeated).
 *
 * A copy the server refuses as `JOB_TOO_BIG` (the copy is re-encoded with every PascalCase field, so it can be
 * larger than what the producer put): the other copies are made and recorded, then the main job is **buried**
 * in the main tube with a REDISTFAIL DATA record naming the subscriptions and the reason. Nothing is lost: after
 * raising beanstalkd's `-z`, kicking it (amender) copies it to the subscriptions still missing only.
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
import type { Subscription } from '../subscriptions/subscription.js';
import type { SubscriptionSource } from '../subscriptions/subscription-source.js';
import { CopyRecords } from './copy-records.js';

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
  /**
   * Messages one listener redistributes side by side: after a blocking reserve it also takes up to this many
   * minus one more ready messages with non-blocking reserves sent in the same write, so a backlog costs one
   * round trip per batch instead of one per message. @defaultValue 8
   */
  messagesPerListener?: number;
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
  readonly #records: CopyRecords;
  /** Deletes sent but not yet answered; a listener waits for them before its connection is closed. */
  readonly #deleting = new Set<Promise<void>>();
  #started = false;

  constructor(options: RedistributorOptions) {
    this.#o = {
      mainTube: DEFAULT_MAIN_TUBE,
      channelPrefix: DEFAULT_CHANNEL_PREFIX,
      listenersPerServer: 1,
      messagesPerListener: 8,
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
    this.#records = new CopyRecords(this.#o.redis, this.#o.dedupeTtlSec);
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
    const window = Math.max(1, Math.floor(this.#o.messagesPerListener));
    let lastPollEmpty = false;
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
          // Blocks only with nothing in hand: a blocking reserve would hold up the touch/release/bury of
          // messages in hand on this connection.
          const job = await client.reserve(1, { signal });
          if (!job) return;
          const handling = [this.#handle(client, job)];
          if (window > 1) {
            // Non-blocking and without the signal: they answer at once, and an abort must not reset the
            // connection that holds the message in hand. One poll only after an empty one (likely still empty).
            const polls = lastPollEmpty ? 1 : window - 1;
            const more = await Promise.all(
              Array.from({ length: polls }, () => client.reserve(0).catch(() => undefined)),
            );
            lastPollEmpty = true;
            for (const next of more)
              if (next) {
                lastPollEmpty = false;
                handling.push(this.#handle(client, next));
              }
          }
          // Every message in hand settles before the next blocking reserve; then a failure is reported.
          const failed = (await Promise.allSettled(handling)).find((r) => r.status === 'rejected');
          if (failed) throw failed.reason;
        },
      });
    } finally {
      await Promise.allSettled([...this.#deleting]);
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
      const outcome = await this.#copy(client, job, msg);
      if (outcome === 'too-big') {
        await client.bury(job.id, { priority: DEFAULT_PRIORITY }).catch((err: unknown) => {
          this.#log.warn({ err, jobId: job.id }, 'bury failed; the job returns after its TTR');
        });
        return;
      }
      if (outcome === 'retry') {
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
    // Not awaited: the delete leaves in one write with the listener's next reserve. Every copy is made and
    // recorded by now; a lost delete brings the message back after its TTR and the records skip the copies.
    const deleting = this.#delete(client, job, msg).finally(() => this.#deleting.delete(deleting));
    this.#deleting.add(deleting);
  }

  /**
   * Copies into every matching channel: 'done', 'retry' when a copy failed (the message is tried again), or
   * 'too-big' when the only failures were copies above the server's job size limit.
   */
  async #copy(
    client: BeanstalkClient,
    job: BeanstalkJob,
    msg: JobMessage,
  ): Promise<'done' | 'retry' | 'too-big'> {
    const subs = (await this.#o.source.listByTopic(msg.msgKey)).filter(
      (s) => !this.#o.runAtBench || s.params.receiveBench,
    );
    if (subs.length === 0) return 'done';
    const key = `${this.#o.keyPrefix}redist:${client.address}:${job.id}:${msg.time}`;
    const already = await this.#records.recorded(key);
    const copy: JobMessage = { ...msg, originJobId: job.id, retryTimes: 0 };
    const body = encodeJob(copy);
    const served: number[] = [];
    // Copies to the subscriptions run side by side; each is recorded as soon as it is made.
    const results = await Promise.all(
      subs
        .filter((sub) => !already.has(String(sub.id)))
        .map((sub) => this.#copyTo(client, job, msg, sub, key, body)),
    );
    let failed = false;
    let tooBig = false;
    results.forEach((r) => {
      if (r === 'failed') failed = true;
      else if (r === 'too-big') tooBig = true;
      else if (typeof r === 'number') served.push(r);
    });
    if (served.length > 0)
      publishPushEvent(PushChannels.redistributed, {
        topic: msg.msgKey,
        originJobId: job.id,
        subscriptionIds: served,
        at: Date.now(),
      });
    if (failed) return 'retry';
    return tooBig ? 'too-big' : 'done';
  }

  /**
   * One channel copy: the subscription id when made, 'skipped' when dropped by policy, 'failed' to retry,
   * 'too-big' when the server refuses its size (not recorded, so a kicked message is copied then).
   */
  async #copyTo(
    client: BeanstalkClient,
    job: BeanstalkJob,
    msg: JobMessage,
    sub: Subscription,
    key: string,
    body: Uint8Array,
  ): Promise<number | 'skipped' | 'failed' | 'too-big'> {
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
        await this.#records.record(key, String(sub.id), 'dropped');
        return 'skipped';
      }
    }
    try {
      await this.#o.pool.put(tube, body, {
        priority: DEFAULT_PRIORITY,
        ttrSec: this.#o.ttrSec,
        preferAddress: client.address,
      });
      await this.#records.record(key, String(sub.id), '1');
      return sub.id;
    } catch (err) {
      if (PushError.hasCode(err, 'DSP_PUSH_BEANSTALK_JOB_TOO_BIG')) {
        this.#data.error(
          {
            record: 'REDISTFAIL',
            topic: msg.msgKey,
            subscriptionId: sub.id,
            originJobId: job.id,
            tube,
            bytes: body.byteLength,
            reason:
              'JOB_TOO_BIG: the channel copy exceeds the beanstalkd job size limit (-z); main job buried',
            err,
          },
          'DATA',
        );
        return 'too-big';
      }
      this.#log.warn(
        { err, topic: msg.msgKey, subscriptionId: sub.id, jobId: job.id },
        'copy to channel failed; retrying the message',
      );
      return 'failed';
    }
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
