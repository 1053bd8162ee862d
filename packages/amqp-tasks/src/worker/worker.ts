/**
 * A worker consumes one queue on its own confirm channel and runs registered task functions.
 *
 * Delivery life cycle (one message):
 *
 *   received ──decode/lookup/validate fails──▶ dead-lettered (publish to <queue>.dead, confirm, ack)
 *      │ not before its time ──▶ re-delayed (bucket, confirm, ack)
 *      ▼
 *   waiting (slot + rate token) ──▶ running ──ok──▶ acked (reply sent first for call())
 *                                     │ throws / rejects / times out
 *                                     ├─ policy: retry ──▶ bucket with attempt+1 (confirm, then ack)
 *                                     ├─ policy: give up ──▶ dead-lettered (confirm, then ack)
 *                                     ├─ close() deadline ──▶ nacked with requeue
 *                                     └─ channel lost ──▶ nothing: the broker redelivers it
 *
 *   Any settle path that throws unexpectedly (a hostile thrown value, a retry policy that throws) still
 *   ends the delivery: dead-lettered with that error; a retry or dead-letter copy the broker does not
 *   confirm ──▶ requeued after 1 s (at once when the worker closes). A delivery is settled at most once.
 *
 * A settle is only sent on the channel the delivery came from; once that channel is gone the settle is
 * dropped and counted (`stats().droppedAcks`), never sent on a newer channel where the tag means something
 * else. A slot is released only when the function really returns, so `limit` holds even for timed-out
 * functions that ignore their signal.
 */
import { type RetryPolicy, settleWithin } from '@dispatcher/core';
import type { ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { DEFAULT_CODECS, selectCodec } from '../codec/select-codec.js';
import type { TaskCodec } from '../codec/task-codec.js';
import { toBrokerError } from '../connection/broker-error.js';
import { ConfirmTracker } from '../connection/confirm-tracker.js';
import { ReopenTimer } from '../connection/reopen-timer.js';
import { DelayQueues, MIN_DELAY_MS } from '../delay-queues.js';
import { TasksError } from '../errors.js';
import type { ContextPropagation } from '../server-options.js';
import type { AnyTaskConfig } from '../task-config.js';
import { toRetryPolicy } from '../task-config.js';
import type { DeadLetterReason, Reporter, TaskEventBase } from '../task-events.js';
import { readNumberHeader, TaskHeaders } from '../task-headers.js';
import { DeadlineQueue } from '../timers/deadline-queue.js';
import { declareDeadLetterQueue, declareQueue, type QueueSpec } from '../topology.js';
import { DEFAULT_WORKER_OPTIONS, defaultPrefetch, type WorkerOptions } from '../worker-options.js';
import { AckBatcher } from './ack-batcher.js';
import { bodyIdentity, type ChannelSlot } from './channel-slot.js';
import type { PreparedDelivery } from './prepared-delivery.js';
import { RateLimiter } from './rate-limiter.js';
import { Settler } from './settler.js';
import { type Outcome, Run, type RunOptions } from './task-run.js';

/** How long a polite channel.close may take at close() before the worker moves on. */
const CHANNEL_CLOSE_GRACE_MS = 1_000;

/** What a worker needs from its server. */
export interface WorkerHost {
  readonly reporter: Reporter;
  readonly exchange: string;
  readonly debug: boolean;
  readonly propagation: ContextPropagation | undefined;
  model(): ChannelModel | undefined;
  /** The server's `queues` entry of that name, if any (its arguments must match ours). */
  queueSpec(name: string): QueueSpec | undefined;
}

/** Counters of one worker. */
export interface WorkerStats {
  /** Functions running now (timed-out ones included until they return). */
  running: number;
  /** Most functions ever running at once. */
  maxRunning: number;
  /** Deliveries received and waiting for a free slot (prefetched, unacked; at most `prefetch - limit`). */
  waiting: number;
  started: number;
  succeeded: number;
  failed: number;
  retried: number;
  deadLettered: number;
  /** Settles dropped because their channel was gone. */
  droppedAcks: number;
}

type WorkerState = 'new' | 'running' | 'closing' | 'closed';

export class Worker {
  readonly name: string;
  readonly queue: string;
  readonly limit: number;
  readonly prefetch: number;
  readonly #host: WorkerHost;
  readonly #tasks: ReadonlyMap<string, AnyTaskConfig>;
  readonly #codecs: readonly TaskCodec[];
  readonly #spec: QueueSpec;
  readonly #defaultTimeoutMs: number;
  readonly #defaultRetry: RetryPolicy;
  readonly #retryPolicies = new Map<string, RetryPolicy>();
  readonly #rateLimiter: RateLimiter | undefined;
  /** Task timeouts (one timer per distinct duration, not one per task). */
  readonly #deadlines = new DeadlineQueue();
  #state: WorkerState = 'new';
  #slot: ChannelSlot | undefined;
  #opening = false;
  readonly #reopen = new ReopenTimer(200, () => void this.#ensureChannel());
  #rateTimer: NodeJS.Timeout | undefined;
  readonly #settler: Settler;
  #closePromise: Promise<void> | undefined;
  readonly #waiting: PreparedDelivery[] = [];
  readonly #running = new Set<Run>();
  /** Work that must finish before close() may release the channel (runs and their settles, dead-letters). */
  #inFlight = 0;
  /** Inside #pump's loop: a run that ends synchronously frees its slot there, not by a nested #pump. */
  #pumping = false;
  /** What every run of this worker shares (one object, not one per task). */
  readonly #runOptions: RunOptions;
  readonly #idleWaiters: Array<() => void> = [];
  readonly #stats: WorkerStats = {
    running: 0,
    maxRunning: 0,
    waiting: 0,
    started: 0,
    succeeded: 0,
    failed: 0,
    retried: 0,
    deadLettered: 0,
    droppedAcks: 0,
  };

  constructor(host: WorkerHost, options: WorkerOptions, tasks: Readonly<Record<string, AnyTaskConfig>>) {
    if (!options || typeof options.name !== 'string' || options.name === '') {
      throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'worker name is required');
    }
    if (typeof options.queue !== 'string' || options.queue === '') {
      throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'worker queue is required');
    }
    const limit = options.limit ?? DEFAULT_WORKER_OPTIONS.limit;
    const { maxPrefetch } = DEFAULT_WORKER_OPTIONS;
    if (!Number.isInteger(limit) || limit < 1 || limit > maxPrefetch) {
      throw new TasksError(
        'DSP_TASKS_INVALID_ARGUMENT',
        `limit must be a whole number in 1..${maxPrefetch}; got ${limit}`,
      );
    }
    const prefetch = options.prefetch ?? defaultPrefetch(limit);
    if (!Number.isInteger(prefetch) || prefetch < limit || prefetch > maxPrefetch) {
      throw new TasksError(
        'DSP_TASKS_INVALID_ARGUMENT',
        `prefetch must be a whole number in limit..${maxPrefetch} (limit ${limit}); got ${prefetch}`,
      );
    }
    const entries = Object.entries(tasks ?? {});
    for (const [name, config] of entries) {
      if (typeof config?.fn !== 'function') {
        throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', `task ${name}: fn must be a function`);
      }
      if (config.retry) this.#retryPolicies.set(name, toRetryPolicy(config.retry));
    }
    this.#host = host;
    this.name = options.name;
    this.queue = options.queue;
    this.limit = limit;
    this.prefetch = prefetch;
    this.#tasks = new Map(entries);
    this.#codecs = options.codecs ?? DEFAULT_CODECS;
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_WORKER_OPTIONS.defaultTimeoutMs;
    this.#defaultRetry = toRetryPolicy(options.retry ?? DEFAULT_WORKER_OPTIONS.retry);
    this.#rateLimiter = options.rateLimit ? new RateLimiter(options.rateLimit) : undefined;
    this.#settler = new Settler({
      worker: this.name,
      queue: this.queue,
      reporter: host.reporter,
      debug: host.debug,
      counters: this.#stats,
      retryPolicy: (taskName) => this.#retryPolicies.get(taskName) ?? this.#defaultRetry,
      isRunning: () => this.#state === 'running',
    });
    this.#runOptions = {
      worker: this.name,
      queue: this.queue,
      deadlines: this.#deadlines,
      propagation: host.propagation,
      // The slot is freed only when the function really returns, whatever happened to the message.
      release: (run) => {
        this.#running.delete(run);
        this.#pump();
      },
      ended: (run, outcome) => this.#ended(run, outcome),
    };
    const serverSpec = host.queueSpec(options.queue);
    const maxPriority = options.maxPriority ?? serverSpec?.maxPriority;
    this.#spec = {
      name: options.queue,
      bindingKeys: [...new Set([...(serverSpec?.bindingKeys ?? []), ...(options.bindingKeys ?? [])])],
      ...(maxPriority === undefined ? {} : { maxPriority }),
      ...(serverSpec?.arguments ? { arguments: serverSpec.arguments } : {}),
    };
  }

  /** Counters since the worker was created. */
  stats(): WorkerStats {
    return { ...this.#stats, running: this.#running.size, waiting: this.#waiting.length };
  }

  /** True while a channel consumes. */
  get consuming(): boolean {
    return this.#slot?.consumerTag !== undefined && this.#slot.alive;
  }

  /** Starts consuming (now if connected, else as soon as the connection is up). */
  start(): void {
    if (this.#state === 'running') return;
    if (this.#state !== 'new')
      throw new TasksError('DSP_TASKS_CLOSED', `worker ${this.name} is ${this.#state}`);
    this.#state = 'running';
    void this.#ensureChannel();
  }

  /** The connection is (re)open: get a channel and consume. */
  attach(): void {
    this.#reopen.reset();
    void this.#ensureChannel();
  }

  /**
   * Stops consuming, waits for running tasks at most `timeoutMs`, aborts the rest (`DSP_TASKS_SHUTDOWN`) and
   * requeues them for redelivery, then closes the channel. Idempotent.
   */
  close(timeoutMs: number = 30_000): Promise<void> {
    this.#closePromise ??= this.#close(timeoutMs);
    return this.#closePromise;
  }

  /**
   * Stops at once (undici's `destroy` beside the graceful `close`): timers cleared, waiting deliveries
   * forgotten, running functions aborted (their signal fires with `DSP_TASKS_SHUTDOWN`, caused by `err`), the
   * channel closed without waiting. Nothing is acked any more: every unsettled delivery goes back to the
   * queue when the channel goes, so this loses nothing (its functions may have run; they run again).
   */
  destroy(err?: Error): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closePromise ??= Promise.resolve();
    this.#reopen.cancel();
    clearTimeout(this.#rateTimer);
    this.#waiting.length = 0;
    const slot = this.#slot;
    this.#slot = undefined;
    if (slot) {
      slot.alive = false;
      slot.acks.discard();
      slot.channel.close().catch(() => undefined);
    }
    this.#settler.forgetPausedOf(undefined);
    // Always the shutdown code (with `err` as its cause): an aborted run is given back, never counted as failed.
    const reason = new TasksError('DSP_TASKS_SHUTDOWN', `worker ${this.name} was destroyed`, { cause: err });
    for (const run of this.#running) run.abort(reason);
  }

  async #close(timeoutMs: number): Promise<void> {
    const wasRunning = this.#state === 'running';
    this.#state = 'closing';
    this.#reopen.cancel();
    clearTimeout(this.#rateTimer);
    const slot = this.#slot;
    if (wasRunning && slot?.alive && slot.consumerTag !== undefined) {
      // Bounded like the channel close below: without cancel-ok, deliveries that still arrive stay
      // unacked and go back to the queue when the channel goes.
      const cancelling = slot.channel.cancel(slot.consumerTag).catch((err: unknown) => {
        this.#host.reporter.log.debug({ err, worker: this.name }, 'cancel failed');
      });
      await settleWithin(cancelling, CHANNEL_CLOSE_GRACE_MS);
    }
    // Deliveries that never started go back to the queue now.
    for (const prepared of this.#waiting.splice(0)) this.#settler.settleOn(prepared, 'requeue');
    const drained = await settleWithin(this.#whenIdle(), Math.max(0, timeoutMs));
    if (!drained) {
      const reason = new TasksError(
        'DSP_TASKS_SHUTDOWN',
        `worker ${this.name} closed before the task finished`,
      );
      this.#host.reporter.log.warn({ worker: this.name, running: this.#running.size }, 'aborting laggards');
      for (const run of this.#running) run.abort(reason);
      await settleWithin(this.#whenIdle(), 2_000);
    }
    // Deliveries pausing before their requeue go back now, while their channel is still open.
    this.#settler.requeuePausedNow();
    this.#slot = undefined;
    if (slot?.alive) {
      // Acks marked in this turn must leave before the channel closes, or their tasks would run again.
      slot.acks.flush();
      slot.alive = false;
      // Bounded: a broker that stopped answering would never send close-ok (the connection's own close
      // cuts the socket after this).
      const closing = slot.channel.close().catch((err: unknown) => {
        this.#host.reporter.log.debug({ err, worker: this.name }, 'channel close failed');
      });
      await settleWithin(closing, CHANNEL_CLOSE_GRACE_MS);
    }
    this.#state = 'closed';
  }

  #whenIdle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Counts `work` as in flight until it settles (close() waits for the count to reach zero). */
  #track(work: Promise<unknown>): void {
    this.#inFlight++;
    const done = () => this.#leave();
    work.then(done, done);
  }

  /** One piece of work counted in flight ended. */
  #leave(): void {
    if (--this.#inFlight === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  async #ensureChannel(): Promise<void> {
    if (this.#opening || this.#slot || this.#state !== 'running' || this.#reopen.pending) return;
    const model = this.#host.model();
    if (!model) return;
    this.#opening = true;
    let channel: ConfirmChannel | undefined;
    try {
      channel = await model.createConfirmChannel();
      const slot: ChannelSlot = {
        channel,
        tracker: new ConfirmTracker(channel),
        delayQueues: new DelayQueues(),
        acks: new AckBatcher(channel, (count) => {
          for (let i = 0; i < count; i++) this.#settler.dropped('');
        }),
        consumerTag: undefined,
        alive: true,
      };
      channel.on('error', (err: Error) =>
        this.#host.reporter.problem(`worker ${this.name}`, toBrokerError(err, 'channel'), {
          queue: this.queue,
        }),
      );
      channel.on('close', () => this.#onChannelClosed(slot));
      await declareQueue(channel, this.#host.exchange, this.#spec);
      await declareDeadLetterQueue(channel, this.queue);
      await channel.prefetch(this.prefetch, false);
      if (this.#state !== 'running') {
        slot.alive = false;
        await channel.close();
        return;
      }
      this.#slot = slot;
      const { consumerTag } = await channel.consume(
        this.queue,
        (msg) => (msg ? this.#onMessage(slot, msg) : this.#onCancelled(slot)),
        { consumerTag: this.name, noAck: false },
      );
      slot.consumerTag = consumerTag;
      this.#reopen.succeeded();
      this.#host.reporter.log.info({ worker: this.name, queue: this.queue }, 'consuming');
    } catch (err) {
      this.#host.reporter.problem(`worker ${this.name}`, toBrokerError(err, 'channel'), {
        queue: this.queue,
      });
      if (this.#slot?.channel === channel) this.#slot = undefined;
      if (channel) await channel.close().catch(() => undefined);
      this.#scheduleReopen();
    } finally {
      this.#opening = false;
    }
  }

  #scheduleReopen(): void {
    if (this.#state === 'running') this.#reopen.schedule();
  }

  #onCancelled(slot: ChannelSlot): void {
    // The broker cancelled us (queue deleted, node down…). Recycle the channel: its deliveries are void.
    slot.consumerTag = undefined;
    this.#host.reporter.problem(
      `worker ${this.name}`,
      new TasksError('DSP_TASKS_CHANNEL_LOST', `the broker cancelled the consumer of ${this.queue}`),
      { queue: this.queue },
    );
    slot.channel.close().catch(() => undefined);
  }

  #onChannelClosed(slot: ChannelSlot): void {
    if (!slot.alive && this.#slot !== slot) return;
    slot.alive = false;
    // Acks marked in this turn but not yet flushed belong to the dead channel: dropped, and counted.
    for (let i = slot.acks.discard(); i > 0; i--) this.#settler.dropped('');
    const lost = new TasksError('DSP_TASKS_CHANNEL_LOST', `the channel of worker ${this.name} closed`);
    for (const run of this.#running) if (run.prepared.slot === slot) run.abort(lost);
    // Their requeue can never be sent: the broker redelivers them. Dropped, and counted, as the timer would.
    this.#settler.forgetPausedOf(slot);
    // Waiting deliveries of that channel are redelivered by the broker; forget them here.
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      if (this.#waiting[i]?.slot === slot) this.#waiting.splice(i, 1);
    }
    if (this.#slot === slot) {
      this.#slot = undefined;
      // Through a timer: when the whole connection died, its recovery re-attaches us meanwhile.
      this.#scheduleReopen();
    }
  }

  #onMessage(slot: ChannelSlot, msg: ConsumeMessage): void {
    slot.acks.received(msg);
    let prepared: PreparedDelivery;
    try {
      prepared = this.#prepare(slot, msg);
    } catch (err) {
      const reason: DeadLetterReason = TasksError.hasCode(err, 'DSP_TASKS_UNKNOWN_TASK')
        ? 'unknown-task'
        : TasksError.hasCode(err, 'DSP_TASKS_VALIDATION')
          ? 'validation'
          : 'decode';
      const attempt = readNumberHeader(msg.properties.headers, TaskHeaders.attempt) ?? 1;
      const identity = bodyIdentity(msg);
      this.#track(
        this.#settler.settleSafely({ slot, msg }, attempt, identity, () =>
          this.#settler.deadLetter({ slot, msg }, reason, err, attempt, identity),
        ),
      );
      return;
    }
    const notBefore = readNumberHeader(prepared.headers, TaskHeaders.notBefore);
    if (notBefore !== undefined && notBefore - Date.now() >= MIN_DELAY_MS) {
      // Early (a bucket rounds down, and a delay longer than the largest bucket takes several hops).
      this.#track(
        this.#settler.settleSafely(prepared, prepared.attempt, prepared, () =>
          this.#settler.delay(prepared, notBefore, { ...prepared.headers }),
        ),
      );
      return;
    }
    const early = notBefore === undefined ? 0 : notBefore - Date.now();
    if (early > 0) {
      // Less than a bucket's worth early: hold it here (unacked, so a crash redelivers it) until its
      // time, so "no earlier than asked" holds to the millisecond.
      this.#track(this.#holdUntil(notBefore!).then(() => this.#enqueue(prepared)));
      return;
    }
    this.#enqueue(prepared);
  }

  #enqueue(prepared: PreparedDelivery): void {
    // Its channel is gone (the broker redelivers it), or destroy() forgot everything unsettled.
    if (!prepared.slot.alive || this.#state === 'closed') return;
    if (this.#state !== 'running') {
      // Held through the start of close(): back to the queue like every other delivery that never started.
      this.#settler.settleOn(prepared, 'requeue');
      return;
    }
    this.#waiting.push(prepared);
    this.#pump();
  }

  /** Resolves once the wall clock reaches `at` (a timer can fire a millisecond before Date.now() agrees). */
  async #holdUntil(at: number): Promise<void> {
    for (let left = at - Date.now(); left > 0; left = at - Date.now()) {
      await new Promise<void>((resolve) => setTimeout(resolve, left));
    }
  }

  #prepare(slot: ChannelSlot, msg: ConsumeMessage): PreparedDelivery {
    const codec = selectCodec(msg.properties.contentType, this.#codecs);
    const body = codec.decode(msg.content);
    const config = this.#tasks.get(body.name);
    if (!config) {
      throw new TasksError(
        'DSP_TASKS_UNKNOWN_TASK',
        `no task ${JSON.stringify(body.name)} in worker ${this.name}`,
      );
    }
    let args = body.args;
    if (config.schema) {
      const parsed = config.schema.safeParse(args);
      if (!parsed.success) {
        throw new TasksError(
          'DSP_TASKS_VALIDATION',
          `task ${body.name}: invalid args: ${parsed.error.message}`,
        );
      }
      args = parsed.data;
    }
    // Not copied: only the retry path writes headers, and it builds its own object.
    const headers = msg.properties.headers ?? {};
    return {
      slot,
      msg,
      uuid: body.uuid || String(msg.properties.messageId ?? ''),
      name: body.name,
      args,
      config,
      attempt: readNumberHeader(headers, TaskHeaders.attempt) ?? 1,
      firstAttemptAt: readNumberHeader(headers, TaskHeaders.firstAttemptAt) ?? Date.now(),
      headers,
    };
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#state === 'running' && this.#waiting.length > 0 && this.#running.size < this.limit) {
        if (this.#rateLimiter && !this.#rateLimiter.tryTake()) {
          if (!this.#rateTimer) {
            this.#rateTimer = setTimeout(() => {
              this.#rateTimer = undefined;
              this.#pump();
            }, this.#rateLimiter.msUntilNext());
          }
          return;
        }
        const prepared = this.#waiting.shift();
        if (!prepared) return;
        if (!prepared.slot.alive) continue;
        this.#run(prepared);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * Runs one delivery. Counted in flight from here until its settle is done; a function that returns a
   * plain value is run, released and acked (marked for the next flush) before this returns, without a
   * promise (see Run#start).
   */
  #run(prepared: PreparedDelivery): void {
    const run = new Run(prepared, this.#runOptions);
    this.#running.add(run);
    this.#inFlight++;
    this.#stats.started++;
    if (this.#running.size > this.#stats.maxRunning) this.#stats.maxRunning = this.#running.size;
    const { events, log } = this.#host.reporter;
    // The event object only when someone reads it (this runs once per task).
    if (events.has('task:started')) events.emit('task:started', this.#event(prepared));
    if (this.#host.debug) log.debug(this.#event(prepared), 'task started');
    run.start(prepared.config.timeoutMs ?? this.#defaultTimeoutMs);
  }

  /** Settles a run's delivery; the run stops counting in flight once that is done. */
  #ended(run: Run, outcome: Outcome): void {
    const { prepared } = run;
    const durationMs = performance.now() - run.startedAt;
    let settling: Promise<void> | undefined;
    try {
      settling = this.#settler.settle(prepared, outcome, durationMs);
    } catch (err) {
      settling = Promise.reject(err);
    }
    if (!settling) {
      this.#leave();
      return;
    }
    const work = settling;
    const done = () => this.#leave();
    this.#settler.settleSafely(prepared, prepared.attempt, prepared, () => work).then(done, done);
  }

  #event(prepared: PreparedDelivery): TaskEventBase {
    return {
      worker: this.name,
      queue: this.queue,
      uuid: prepared.uuid,
      name: prepared.name,
      attempt: prepared.attempt,
    };
  }
}
