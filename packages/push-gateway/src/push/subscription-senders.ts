/**
 * The senders of one subscription: on every server, one worker on the channel tube with up to `concurrency`
 * pushes in flight and one on its `/FAIL` tube with up to `retryConcurrency`, each with its own reserve
 * connection, so a slow subscriber only ever holds its own connections and a dead server only stops its own
 * workers.
 *
 * A worker keeps its window full over one connection: with nothing in hand it blocks in `reserve` (1 s); with
 * jobs in hand it only polls (`reserve-with-timeout 0`, one per free slot, sent together), because a blocking
 * reserve would hold up the `delete`/`touch` of the jobs in hand behind it. The deletes of finished pushes and
 * the polls that refill their slots leave in one write (see beanstalk-client.ts), so a busy worker costs about
 * one beanstalkd round trip per event-loop turn rather than two per push.
 */
import { delay, type Logger } from '@dispatcher/core';
import { signWebhook } from '@dispatcher/core/http';
import type { BeanstalkClient } from '../beanstalk/beanstalk-client.js';
import { DEFAULT_PRIORITY } from '../beanstalk/beanstalk-client.js';
import type { BeanstalkPool } from '../beanstalk/beanstalk-pool.js';
import type { BeanstalkJob } from '../beanstalk/beanstalk-types.js';
import { JobKeepAlive } from '../beanstalk/job-keep-alive.js';
import { runLoop } from '../beanstalk/run-loop.js';
import { PushError, type PushErrorCode } from '../errors.js';
import { PushChannels, type PushEventBase, publishPushEvent } from '../events/push-events.js';
import { decodeJob, encodeJob } from '../job/job-codec.js';
import type { JobMessage } from '../job/job-message.js';
import { channelTube, deadLetterTube, pushJobId, retryTube } from '../job/tube-names.js';
import type { Subscription } from '../subscriptions/subscription.js';
import type { EndpointBreaker } from './endpoint-breaker.js';
import type { FailureLog } from './failure-log.js';
import type { FleetLimiter } from './fleet-limiter.js';
import { judgeResponse, type PushOutcome } from './push-outcome.js';
import { buildPushRequest, selectUrl } from './push-request.js';
import type { PushTransport } from './push-transport.js';
import { nextRetry } from './retry-schedule.js';

/** What every subscription's senders share. */
export interface SenderContext {
  readonly pool: BeanstalkPool;
  readonly transport: PushTransport;
  readonly breaker: EndpointBreaker;
  readonly channelPrefix: string;
  readonly receptionEnv: string | undefined;
  readonly fleet: FleetLimiter | undefined;
  readonly failureLog: FailureLog | undefined;
  readonly enableSentLog: boolean;
  readonly log: Logger;
  readonly data: Logger;
  /** Time-to-run of the jobs this gateway puts, seconds. */
  readonly ttrSec: number;
  /** Aborts pushes in flight when a shutdown's drain time is over. */
  readonly hardStop: AbortSignal;
}

type Kind = 'main' | 'retry';

interface Loop {
  readonly abort: AbortController;
  readonly done: Promise<void>;
}

/** With jobs in hand and an empty tube, how often a worker polls for new jobs, ms. */
const POLL_WHILE_BUSY_MS = 50;

export class SubscriptionSenders {
  #sub: Subscription;
  readonly #ctx: SenderContext;
  readonly #log: Logger;
  readonly #loops = new Map<string, Loop>();
  /** Deletes sent but not yet answered; a loop waits for them before its connection is closed. */
  readonly #deleting = new Set<Promise<void>>();
  #closed = false;
  #paused = false;

  constructor(sub: Subscription, ctx: SenderContext) {
    this.#sub = sub;
    this.#ctx = ctx;
    this.#log = ctx.log.child({ subscriptionId: sub.id, topic: sub.topic });
  }

  get subscription(): Subscription {
    return this.#sub;
  }

  /** Number of senders (pushes that may be in flight), all servers and both tubes. */
  get loopCount(): number {
    let n = 0;
    for (const key of this.#loops.keys()) n += this.#window(key.split('|')[0] as Kind);
    return n;
  }

  /** Applies new parameters: senders are added or stopped to match the concurrency. */
  update(sub: Subscription): void {
    this.#sub = sub;
    this.#reconcile();
  }

  start(): void {
    this.#reconcile();
  }

  /** Whether {@link pause} holds the senders. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Stops every loop (jobs in hand finish first) and spawns none until {@link resume}. */
  async pause(): Promise<void> {
    this.#paused = true;
    await this.#stopAll();
  }

  /** Starts the loops again after {@link pause}. */
  resume(): void {
    this.#paused = false;
    this.#reconcile();
  }

  /** Stops reserving; jobs in hand finish (bounded by the push timeout). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#stopAll();
  }

  async #stopAll(): Promise<void> {
    const loops = [...this.#loops.values()];
    this.#loops.clear();
    for (const loop of loops) loop.abort.abort();
    await Promise.allSettled(loops.map((l) => l.done));
  }

  #window(kind: Kind): number {
    return kind === 'main' ? this.#sub.params.concurrency : this.#sub.params.retryConcurrency;
  }

  #reconcile(): void {
    if (this.#closed || this.#paused) return;
    // A worker reads its window from the parameters each time, so a concurrency change applies at once.
    for (const address of this.#ctx.pool.addresses)
      for (const kind of ['main', 'retry'] as const) {
        const key = `${kind}|${address}`;
        if (this.#window(kind) > 0 && !this.#loops.has(key)) this.#spawn(key, kind, address);
      }
    for (const [key, loop] of this.#loops) {
      if (this.#window(key.split('|')[0] as Kind) > 0) continue;
      loop.abort.abort();
      this.#loops.delete(key);
    }
  }

  #spawn(key: string, kind: Kind, address: string): void {
    const abort = new AbortController();
    const done = this.#run(kind, address, abort.signal).catch((err: unknown) =>
      this.#log.error({ err, kind, beanstalkd: address }, 'sender loop crashed'),
    );
    this.#loops.set(key, { abort, done });
  }

  async #run(kind: Kind, address: string, signal: AbortSignal): Promise<void> {
    const { pool } = this.#ctx;
    const client = pool.createReserveClient(address);
    // The tube is fixed per worker: a topic change replaces the whole SubscriptionSenders.
    const tube =
      kind === 'main'
        ? channelTube(this.#sub.topic, this.#sub.id, this.#ctx.channelPrefix)
        : retryTube(this.#sub.topic, this.#sub.id, this.#ctx.channelPrefix);
    const inHand = new Set<Promise<void>>();
    const aborted = abortable(signal);
    let lastPollEmpty = false;
    let slotFreed: (() => void) | undefined;
    /** Resolves when a push in hand finishes, or after `ms` (no timer left behind either way). */
    const freed = (ms = 0) =>
      new Promise<void>((resolve) => {
        const timer = ms > 0 ? setTimeout(resolve, ms) : undefined;
        slotFreed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    const take = (job: BeanstalkJob) => {
      const work = (async () => {
        try {
          await this.#handle(client, job, kind, tube);
          // The original's pause between two pushes of one sender: the slot stays taken meanwhile.
          const interval = this.#sub.params.intervalMs;
          if (interval > 0) await delay(interval, signal).catch(() => {});
        } catch (err) {
          this.#log.error(
            { err, jobId: job.id, tube },
            'push failed unexpectedly; the job returns after its TTR',
          );
        }
      })().finally(() => {
        inHand.delete(work);
        slotFreed?.();
      });
      inHand.add(work);
    };
    try {
      await runLoop({
        signal,
        log: this.#log,
        what: `push from ${tube} on ${address}`,
        setup: async () => {
          await client.watch(tube);
          await client.ignore('default');
        },
        step: async () => {
          const free = this.#window(kind) - inHand.size;
          if (free <= 0) {
            await Promise.race([freed(), aborted]);
            return;
          }
          if (inHand.size === 0) {
            // Nothing in hand: block on the server. A shutdown aborts this reserve (and resets the connection).
            const job = await client.reserve(1, { signal });
            if (job) take(job);
            return;
          }
          // Jobs in hand: poll only, one reserve per free slot, all in one write (a single one after an empty
          // poll: the tube is likely still empty). No signal: these return at once, and an abort must not reset
          // the connection that holds the jobs in hand.
          const polls = lastPollEmpty ? 1 : free;
          const jobs = await Promise.all(Array.from({ length: polls }, () => client.reserve(0)));
          let got = 0;
          for (const job of jobs)
            if (job) {
              take(job);
              got += 1;
            }
          lastPollEmpty = got === 0;
          if (got === 0) await Promise.race([freed(POLL_WHILE_BUSY_MS), aborted]);
        },
      });
    } finally {
      // Pushes in hand finish first (bounded by the push timeout and the shutdown's drain time); closing the
      // connection under an unanswered delete would fail it and the job would be pushed again.
      await Promise.allSettled([...inHand]);
      await Promise.allSettled([...this.#deleting]);
      await pool.release(client);
    }
  }

  async #handle(client: BeanstalkClient, job: BeanstalkJob, kind: Kind, tube: string): Promise<void> {
    const { data } = this.#ctx;
    let msg: JobMessage;
    try {
      msg = decodeJob(job.payload);
    } catch (err) {
      data.error(
        { record: 'DECODERR', tube, jobId: job.id, payloadBase64: job.payload.toString('base64'), err },
        'DATA',
      );
      await this.#delete(client, job.id, tube);
      return;
    }
    const keepAlive = new JobKeepAlive(client, job.id, this.#ctx.ttrSec, this.#log);
    try {
      await this.#deliver(client, job, msg, kind, tube);
    } finally {
      keepAlive.stop();
    }
  }

  async #deliver(
    client: BeanstalkClient,
    job: BeanstalkJob,
    msg: JobMessage,
    kind: Kind,
    tube: string,
  ): Promise<void> {
    const sub = this.#sub;
    const { breaker, data } = this.#ctx;
    // As the original: a job from the retry tube is attempt retryTimes + 1.
    const retryTimes = kind === 'retry' ? msg.retryTimes + 1 : msg.retryTimes;
    const base: PushEventBase = {
      topic: sub.topic,
      subscriptionId: sub.id,
      originJobId: msg.originJobId,
      pushJobId: pushJobId(msg.time, msg.originJobId, sub.id),
      retryTimes,
      at: Date.now(),
    };
    let url = '';
    let outcome: PushOutcome;
    const started = performance.now();
    try {
      url = selectUrl(sub.params.urls, this.#ctx.receptionEnv);
      const origin = new URL(url).origin;
      if (!breaker.allow(origin)) {
        // Not an attempt: wait for the breaker without spending the retry budget.
        await client.release(job.id, { delaySec: 1, priority: DEFAULT_PRIORITY }).catch(() => {});
        return;
      }
      outcome = await this.#attempt(sub, msg, url, retryTimes);
      breaker.record(origin, outcome.ok || (outcome.status >= 200 && outcome.status < 500));
    } catch (err) {
      if (this.#ctx.hardStop.aborted) {
        // Shut down mid-push: not an attempt; the job goes back for the next instance.
        await client.release(job.id, { priority: DEFAULT_PRIORITY }).catch(() => {});
        return;
      }
      const code: PushErrorCode = PushError.isInstance(err)
        ? (err.code as PushErrorCode)
        : 'DSP_PUSH_HTTP_FAILED';
      outcome = { ok: false, status: 0, code, detail: err instanceof Error ? err.message : String(err) };
      if (url) breaker.record(new URL(url).origin, false);
    }
    const durationMs = performance.now() - started;
    if (this.#ctx.enableSentLog)
      data.info(
        {
          record: kind === 'main' && retryTimes === 0 ? 'SENT' : 'RESENT',
          key: msg.msgKey,
          subscriptionId: sub.id,
          jobid: base.pushJobId,
          result: outcome.ok,
          code: outcome.status,
          elapseMs: Math.round(durationMs * 1000) / 1000,
          dest: url,
          data: msg.body,
        },
        'DATA',
      );

    if (outcome.ok) {
      // Not awaited: the delete leaves in the same write as this loop's next reserve (one round trip less
      // per push). It is sent only now, after the subscriber's success; a failed delete is logged (DELFAIL)
      // and the job comes back after its TTR: a duplicate, never a loss.
      this.#deleteInBackground(client, job.id, tube);
      publishPushEvent(PushChannels.sent, { ...base, url, status: outcome.status, durationMs });
      if (msg.logId > 0) await this.#finalStatus(msg.logId, true, false, retryTimes);
      return;
    }

    const decision = this.#retryable(outcome)
      ? nextRetry(sub.params.retry, retryTimes, outcome.retryAfterMs)
      : undefined;
    const willRetry = decision?.action === 'retry';
    publishPushEvent(PushChannels.failed, {
      ...base,
      url,
      status: outcome.status,
      code: outcome.code,
      durationMs,
      willRetry,
    });
    const logId = await this.#recordFailure(sub, msg, base.pushJobId, url, outcome);
    const next: JobMessage = { ...msg, retryTimes, logId };

    if (decision?.action === 'retry') {
      const delaySec = Math.ceil(decision.delayMs / 1000);
      try {
        await this.#ctx.pool.put(retryTube(sub.topic, sub.id, this.#ctx.channelPrefix), encodeJob(next), {
          delaySec,
          priority: DEFAULT_PRIORITY,
          ttrSec: this.#ctx.ttrSec,
        });
      } catch (err) {
        if (PushError.hasCode(err, 'DSP_PUSH_BEANSTALK_JOB_TOO_BIG')) {
          await this.#buryTooBig(
            client,
            job,
            msg,
            tube,
            retryTube(sub.topic, sub.id, this.#ctx.channelPrefix),
            err,
          );
          return;
        }
        // Could not schedule the retry: keep the job where it is and try it again later.
        this.#log.warn({ err, jobId: job.id }, 'putting to the retry tube failed; releasing the job');
        await client.release(job.id, { delaySec, priority: DEFAULT_PRIORITY }).catch(() => {});
        return;
      }
      await this.#delete(client, job.id, tube);
      publishPushEvent(PushChannels.retry, { ...base, delayMs: decision.delayMs });
      if (logId > 0) await this.#finalStatus(logId, false, true, retryTimes);
      return;
    }

    const dead = deadLetterTube(sub.topic, sub.id, this.#ctx.channelPrefix);
    try {
      await this.#ctx.pool.put(dead, encodeJob(next), {
        priority: DEFAULT_PRIORITY,
        ttrSec: this.#ctx.ttrSec,
      });
    } catch (err) {
      if (PushError.hasCode(err, 'DSP_PUSH_BEANSTALK_JOB_TOO_BIG')) {
        await this.#buryTooBig(client, job, msg, tube, dead, err);
        return;
      }
      this.#log.warn({ err, jobId: job.id }, 'putting to the dead-letter tube failed; releasing the job');
      await client.release(job.id, { delaySec: 5, priority: DEFAULT_PRIORITY }).catch(() => {});
      return;
    }
    await this.#delete(client, job.id, tube);
    const reason =
      decision?.action === 'give-up' ? decision.reason : `not retryable: ${outcome.code} ${outcome.status}`;
    data.warn(
      {
        record: 'DEADLETTER',
        key: msg.msgKey,
        subscriptionId: sub.id,
        jobid: base.pushJobId,
        retryTimes,
        tube: dead,
        reason,
      },
      'DATA',
    );
    publishPushEvent(PushChannels.deadLetter, { ...base, tube: dead, reason });
    if (logId > 0) await this.#finalStatus(logId, false, false, retryTimes);
  }

  async #attempt(sub: Subscription, msg: JobMessage, url: string, retryTimes: number): Promise<PushOutcome> {
    const req = buildPushRequest(msg, sub.id, url, retryTimes);
    const headers = sub.params.signingSecret
      ? {
          ...req.headers,
          ...signWebhook(
            sub.params.signingSecret,
            req.jobId,
            Math.floor(Date.now() / 1000),
            Buffer.from(req.body),
          ),
        }
      : req.headers;
    const timeoutMs = sub.params.timeoutMs;
    const fleet = this.#ctx.fleet;
    const releaseSlot =
      fleet && sub.params.fleetConcurrency > 0
        ? await fleet.acquire(sub.subscriberId, sub.params.fleetConcurrency, timeoutMs + 5_000)
        : undefined;
    try {
      const res = await this.#ctx.transport.send({
        url: req.url,
        body: req.body,
        headers,
        timeoutMs,
        signal: this.#ctx.hardStop,
      });
      return judgeResponse(res, sub.params.successMode);
    } finally {
      await releaseSlot?.().catch(() => {});
    }
  }

  #retryable(outcome: Exclude<PushOutcome, { ok: true }>): boolean {
    if (outcome.code === 'DSP_PUSH_NO_URL' || outcome.code === 'DSP_PUSH_DESTINATION_REFUSED') return false;
    const statuses = this.#sub.params.retryableStatuses;
    if (statuses === 'all' || outcome.status === 0) return true;
    // The legacy "200 but status != 1" answer counts as status 200.
    return statuses.includes(outcome.status);
  }

  async #recordFailure(
    sub: Subscription,
    msg: JobMessage,
    jobId: string,
    url: string,
    outcome: Exclude<PushOutcome, { ok: true }>,
  ): Promise<number> {
    const log = this.#ctx.failureLog;
    if (!log) return msg.logId;
    const error =
      outcome.status === 0
        ? `Code: 0\nContent:\n\tFailed to get response: ${outcome.detail}`
        : `Code: ${outcome.status}\nContent:\n\t${outcome.detail}`;
    try {
      return await log.recordFailure({ subscription: sub, message: msg, jobId, url, error }, msg.logId);
    } catch (err) {
      this.#log.warn({ err }, 'writing the failure log failed');
      return msg.logId;
    }
  }

  async #finalStatus(logId: number, delivered: boolean, alive: boolean, retryTimes: number): Promise<void> {
    try {
      await this.#ctx.failureLog?.setFinalStatus(logId, delivered, alive, retryTimes);
    } catch (err) {
      this.#log.warn({ err, logId }, 'updating the failure log failed');
    }
  }

  /**
   * The retry or dead-letter copy exceeds the server's job size limit (`-z`; the copy is re-encoded with every
   * PascalCase field, so it can outgrow a job an older producer wrote). Releasing would push it again forever;
   * the job is buried where it is, with a TOOBIG DATA record, for an operator to kick after raising the limit.
   */
  async #buryTooBig(
    client: BeanstalkClient,
    job: BeanstalkJob,
    msg: JobMessage,
    tube: string,
    target: string,
    err: unknown,
  ): Promise<void> {
    this.#ctx.data.error(
      {
        record: 'TOOBIG',
        key: msg.msgKey,
        subscriptionId: this.#sub.id,
        tube,
        jobId: job.id,
        target,
        reason: `JOB_TOO_BIG: the copy for ${target} exceeds the beanstalkd job size limit (-z); job buried in ${tube}`,
        err,
      },
      'DATA',
    );
    await client.bury(job.id, { priority: DEFAULT_PRIORITY }).catch(async (buryErr: unknown) => {
      this.#log.warn({ err: buryErr, jobId: job.id }, 'bury failed; releasing the job');
      await client.release(job.id, { delaySec: 5, priority: DEFAULT_PRIORITY }).catch(() => {});
    });
  }

  #deleteInBackground(client: BeanstalkClient, jobId: number, tube: string): void {
    const deleting = this.#delete(client, jobId, tube).finally(() => this.#deleting.delete(deleting));
    this.#deleting.add(deleting);
  }

  async #delete(client: BeanstalkClient, jobId: number, tube: string): Promise<void> {
    try {
      await client.delete(jobId);
    } catch (err) {
      // The job comes back after its TTR and is pushed again (a duplicate, never a loss).
      this.#ctx.data.warn({ record: 'DELFAIL', tube, jobId, beanstalkd: client.address, err }, 'DATA');
    }
  }
}

/** Resolves when `signal` aborts (never rejects). */
function abortable(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
