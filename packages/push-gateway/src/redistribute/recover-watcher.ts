/**
 * Feeds the Redis recover lists (messages producers could not put into beanstalkd) back into the main tube, as
 * the original's recoverwatcher does, without its gaps: keys are found with SCAN (not KEYS), a value is moved
 * to `<key>:inflight` with LMOVE before the put and removed after it (a crash in between leaves it there, and
 * it is moved back on the next start), puts back off while beanstalkd is down (no hot loop), and a job too big
 * for the server is logged and dropped instead of being pushed back forever.
 */
import { delay, type Logger, noopLogger } from '@dispatcher/core';
import type { Redis } from 'ioredis';
import { DEFAULT_TTR_SEC } from '../beanstalk/beanstalk-client.js';
import type { BeanstalkPool } from '../beanstalk/beanstalk-pool.js';
import { PushError } from '../errors.js';
import { decodeJob, unwrapRecoverValue } from '../job/job-codec.js';
import { DEFAULT_MAIN_TUBE } from '../job/tube-names.js';

/** Options of {@link RecoverWatcher}. */
export interface RecoverWatcherOptions {
  pool: BeanstalkPool;
  redis: Redis;
  /** `MsgQueueFaultToleranceListNamePrefix`. @defaultValue 'mec_list_of_msg_for_restore_to_queue_server:' */
  listPrefix?: string;
  /** `NameOfMainQueue`. @defaultValue 'main-incoming-queue' */
  mainTube?: string;
  /** Pause when every list is empty, ms (the original's 5 s). @defaultValue 5000 */
  idleMs?: number;
  /** Longest back-off while beanstalkd or Redis fails, ms. @defaultValue 30000 */
  maxBackoffMs?: number;
  /** @defaultValue noopLogger */
  logger?: Logger;
  /** DATA records (RECOVFAILDECODE, RECOVFAILBACK, RECOVTOOBIG). @defaultValue logger */
  dataLog?: Logger;
}

/** Default `MsgQueueFaultToleranceListNamePrefix` of the original. */
export const DEFAULT_RECOVER_LIST_PREFIX = 'mec_list_of_msg_for_restore_to_queue_server:';
const INFLIGHT = ':inflight';

export class RecoverWatcher {
  readonly #pool: BeanstalkPool;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #mainTube: string;
  readonly #idleMs: number;
  readonly #maxBackoffMs: number;
  readonly #log: Logger;
  readonly #data: Logger;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  /** Messages put back into the main tube since start. */
  recovered = 0;
  /** Back-offs taken because beanstalkd or Redis failed, since start. */
  backoffs = 0;

  constructor(options: RecoverWatcherOptions) {
    this.#pool = options.pool;
    this.#redis = options.redis;
    this.#prefix = options.listPrefix ?? DEFAULT_RECOVER_LIST_PREFIX;
    this.#mainTube = options.mainTube ?? DEFAULT_MAIN_TUBE;
    this.#idleMs = options.idleMs ?? 5_000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.#log = (options.logger ?? noopLogger).child({ component: 'recover' });
    this.#data = options.dataLog ?? this.#log;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let failures = 0;
    let restored = false;
    while (!signal.aborted) {
      try {
        if (!restored) {
          await this.#restoreInflight();
          restored = true;
        }
        const moved = await this.#drainOnce(signal);
        failures = 0;
        if (moved === 0) await delay(this.#idleMs, signal).catch(() => {});
      } catch (err) {
        if (signal.aborted) break;
        failures += 1;
        this.backoffs += 1;
        const wait = Math.min(this.#maxBackoffMs, 250 * 2 ** Math.min(failures - 1, 10));
        if (failures === 1 || failures % 10 === 0)
          this.#log.warn({ err, failures, retryInMs: wait }, 'recover list processing failed');
        await delay(wait, signal).catch(() => {});
      }
    }
  }

  /** Values a crashed instance left in flight go back to the head of their list. */
  async #restoreInflight(): Promise<void> {
    for (const key of await this.#keys(`${this.#prefix}*${INFLIGHT}`)) {
      const list = key.slice(0, -INFLIGHT.length);
      while ((await this.#redis.lmove(key, list, 'LEFT', 'RIGHT')) !== null) {}
    }
  }

  async #keys(pattern: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.#redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  }

  /** One pass over every list; resolves how many values were handled. Throws while beanstalkd is down. */
  async #drainOnce(signal: AbortSignal): Promise<number> {
    let handled = 0;
    const lists = (await this.#keys(`${this.#prefix}*`)).filter((k) => !k.endsWith(INFLIGHT));
    for (const list of lists) {
      const inflight = `${list}${INFLIGHT}`;
      while (!signal.aborted) {
        // Producers LPUSH; the original pops from the right (oldest first).
        const value = await this.#redis.lmoveBuffer(list, inflight, 'RIGHT', 'LEFT');
        if (value === null) break;
        handled += 1;
        await this.#recover(list, inflight, value);
      }
    }
    return handled;
  }

  async #recover(list: string, inflight: string, value: Buffer): Promise<void> {
    let job: Uint8Array;
    let priority = 0;
    let delaySec = 0;
    try {
      job = unwrapRecoverValue(value);
      const msg = decodeJob(job);
      priority = msg.priority;
      delaySec = msg.delay;
    } catch (err) {
      this.#data.error(
        { record: 'RECOVFAILDECODE', list, valueBase64: value.toString('base64'), err },
        'DATA',
      );
      await this.#redis.lrem(inflight, 1, value);
      return;
    }
    try {
      await this.#pool.put(this.#mainTube, job, { priority, delaySec, ttrSec: DEFAULT_TTR_SEC });
    } catch (err) {
      if (PushError.hasCode(err, 'DSP_PUSH_BEANSTALK_JOB_TOO_BIG')) {
        this.#data.error(
          { record: 'RECOVTOOBIG', list, bytes: job.length, valueBase64: value.toString('base64') },
          'DATA',
        );
        await this.#redis.lrem(inflight, 1, value);
        return;
      }
      // beanstalkd is down: put the value back where it was and let the caller back off.
      try {
        await this.#redis.multi().lrem(inflight, 1, value).rpush(list, value).exec();
      } catch (redisErr) {
        this.#data.error(
          { record: 'RECOVFAILBACK', list, valueBase64: value.toString('base64'), err: redisErr },
          'DATA',
        );
      }
      throw err;
    }
    await this.#redis.lrem(inflight, 1, value);
    this.recovered += 1;
  }
}
