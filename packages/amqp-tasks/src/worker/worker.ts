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
import { exponentialBackoff, type RetryDecision, type RetryPolicy, settleWithin } from '@dispatcher/core';

/** How long a polite channel.close may take at close() before the worker moves on. */
const CHANNEL_CLOSE_GRACE_MS = 1_000;

import type { ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { DEFAULT_CODECS, selectCodec } from '../codec/select-codec.js';
import type { TaskCodec } from '../codec/task-codec.js';
import { toBrokerError } from '../connection/broker-error.js';
import { ConfirmTracker } from '../connection/confirm-tracker.js';
import { DelayQueues, MIN_DELAY_MS } from '../delay-queues.js';
import { TasksError } from '../errors.js';
import type { ContextPropagation } from '../server-options.js';
import type { AnyTaskConfig, TaskContext } from '../task-config.js';
import { toRetryPolicy } from '../task-config.js';
import type { DeadLetterReason, Reporter, TaskEventBase } from '../task-events.js';
import { readNumberHeader, TaskHeaders } from '../task-headers.js';
import { ENCODE_REPLY_REASON, type TaskReply } from '../task-reply.js';
import { DeadlineQueue } from '../timers/deadline-queue.js';
import { deadLetterQueueName, declareDeadLetterQueue, declareQueue, type QueueSpec } from '../topology.js';
import { DEFAULT_WORKER_OPTIONS, defaultPrefetch, type WorkerOptions } from '../worker-options.js';
import { AckBatcher } from './ack-batcher.js';
import { describeError } from './describe-error.js';
import { RateLimiter } from './rate-limiter.js';

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

/** One open channel with its consumer; deliveries remember the slot they came from. */
interface ChannelSlot {
  readonly channel: ConfirmChannel;
  readonly tracker: ConfirmTracker;
  readonly delayQueues: DelayQueues;
  readonly runs: Set<Run>;
  readonly acks: AckBatcher;
  consumerTag: string | undefined;
  alive: boolean;
}

interface Prepared {
  readonly slot: ChannelSlot;
  readonly msg: ConsumeMessage;
  readonly uuid: string;
  readonly name: string;
  readonly args: unknown;
  readonly config: AnyTaskConfig;
  readonly attempt: number;
  readonly firstAttemptAt: number;
  readonly headers: Record<string, unknown>;
}

/**
 * A running function. Its AbortController is created only when the function reads `ctx.signal` (most
 * no-op-fast tasks never do, and a controller per task is measurable at 10k tasks/s).
 */
interface Run {
  readonly prepared: Prepared;
  controller: AbortController | undefined;
  abortReason: unknown;
  /** Ends the wait for the outcome with this reason. */
  onAbort: ((reason: unknown) => void) | undefined;
}

function abortRun(run: Run, reason: unknown): void {
  if (run.abortReason !== undefined) return;
  run.abortReason = reason;
  run.controller?.abort(reason);
  run.onAbort?.(reason);
}

function signalOf(run: Run): AbortSignal {
  if (!run.controller) {
    run.controller = new AbortController();
    if (run.abortReason !== undefined) run.controller.abort(run.abortReason);
  }
  return run.controller.signal;
}

type Outcome =
  | { readonly kind: 'ok'; readonly value: unknown }
  | { readonly kind: 'failed'; readonly error: unknown };

type WorkerState = 'new' | 'running' | 'closing' | 'closed';

const CHANNEL_BACKOFF = exponentialBackoff({
  baseMs: 200,
  capMs: 5_000,
  jitter: 'equal',
  maxAttempts: Infinity,
});
/** Before a message whose retry or dead-letter publish failed is requeued (no hot loop), in milliseconds. */
const REQUEUE_AFTER_FAILED_SETTLE_MS = 1_000;

/** One delivery on the channel it came from: what settling acts on. */
interface SettleTarget {
  readonly slot: ChannelSlot;
  readonly msg: ConsumeMessage;
}

/** Who a delivery is, for events and logs (it may not have decoded). */
interface Identity {
  readonly uuid: string;
  readonly name: string;
}

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
  #channelFailures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #rateTimer: NodeJS.Timeout | undefined;
  /** Deliveries waiting out the pause before their requeue after a failed settle (close() requeues them now). */
  readonly #requeueTimers = new Map<NodeJS.Timeout, SettleTarget>();
  #closePromise: Promise<void> | undefined;
  readonly #waiting: Prepared[] = [];
  readonly #running = new Set<Run>();
  /** Work that must finish before close() may release the channel (runs and their settles, dead-letters). */
  #inFlight = 0;
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
    this.#channelFailures = 0;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
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

  async #close(timeoutMs: number): Promise<void> {
    const wasRunning = this.#state === 'running';
    this.#state = 'closing';
    clearTimeout(this.#retryTimer);
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
    for (const prepared of this.#waiting.splice(0)) this.#nack(prepared, true);
    const drained = await settleWithin(this.#whenIdle(), Math.max(0, timeoutMs));
    if (!drained) {
      const reason = new TasksError(
        'DSP_TASKS_SHUTDOWN',
        `worker ${this.name} closed before the task finished`,
      );
      this.#host.reporter.log.warn({ worker: this.name, running: this.#running.size }, 'aborting laggards');
      for (const run of this.#running) abortRun(run, reason);
      await settleWithin(this.#whenIdle(), 2_000);
    }
    // Deliveries pausing before their requeue go back now, while their channel is still open.
    for (const [timer, target] of this.#requeueTimers) {
      clearTimeout(timer);
      this.#settleOn(target.slot, target.msg, 'requeue');
    }
    this.#requeueTimers.clear();
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
    const done = () => {
      if (--this.#inFlight === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
    };
    work.then(done, done);
  }

  async #ensureChannel(): Promise<void> {
    if (this.#opening || this.#slot || this.#state !== 'running' || this.#retryTimer) return;
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
        runs: new Set(),
        acks: new AckBatcher(channel, (count) => {
          for (let i = 0; i < count; i++) this.#dropped('');
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
      this.#channelFailures = 0;
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
    if (this.#state !== 'running' || this.#retryTimer) return;
    this.#channelFailures++;
    const now = Date.now();
    const decision = CHANNEL_BACKOFF.next({ attempt: this.#channelFailures, firstAttemptAt: now, now });
    this.#retryTimer = setTimeout(
      () => {
        this.#retryTimer = undefined;
        void this.#ensureChannel();
      },
      decision.action === 'retry' ? decision.delayMs : 1_000,
    );
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
    for (let i = slot.acks.discard(); i > 0; i--) this.#dropped('');
    const lost = new TasksError('DSP_TASKS_CHANNEL_LOST', `the channel of worker ${this.name} closed`);
    for (const run of slot.runs) abortRun(run, lost);
    // Their requeue can never be sent: the broker redelivers them. Dropped, and counted, as the timer would.
    for (const [timer, target] of this.#requeueTimers) {
      if (target.slot !== slot) continue;
      clearTimeout(timer);
      this.#requeueTimers.delete(timer);
      this.#dropped(bodyIdentity(target.msg).uuid);
    }
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
    let prepared: Prepared;
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
        this.#settleSafely({ slot, msg }, attempt, identity, () =>
          this.#deadLetter(slot, msg, reason, err, attempt, identity),
        ),
      );
      return;
    }
    const notBefore = readNumberHeader(prepared.headers, TaskHeaders.notBefore);
    if (notBefore !== undefined && notBefore - Date.now() >= MIN_DELAY_MS) {
      // Early (a bucket rounds down, and a delay longer than the largest bucket takes several hops).
      this.#track(
        this.#settleSafely(prepared, prepared.attempt, prepared, () =>
          this.#delay(prepared, notBefore, { ...prepared.headers }),
        ),
      );
      return;
    }
    this.#waiting.push(prepared);
    this.#pump();
  }

  #prepare(slot: ChannelSlot, msg: ConsumeMessage): Prepared {
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
      this.#track(this.#run(prepared));
    }
  }

  async #run(prepared: Prepared): Promise<void> {
    const { config, slot } = prepared;
    const run: Run = { prepared, controller: undefined, abortReason: undefined, onAbort: undefined };
    this.#running.add(run);
    slot.runs.add(run);
    this.#stats.started++;
    this.#stats.maxRunning = Math.max(this.#stats.maxRunning, this.#running.size);
    const event = this.#event(prepared);
    this.#host.reporter.events.emit('task:started', event);
    if (this.#host.debug) this.#host.reporter.log.debug({ ...event }, 'task started');

    const ctx: TaskContext = {
      get signal() {
        return signalOf(run);
      },
      uuid: prepared.uuid,
      name: prepared.name,
      attempt: prepared.attempt,
      headers: prepared.headers,
      worker: this.name,
      consumerTag: prepared.msg.fields.consumerTag,
      queue: this.queue,
      redelivered: prepared.msg.fields.redelivered,
    };
    const invoke = (): unknown =>
      config.uuidAsFirstArg ? config.fn(prepared.uuid, prepared.args, ctx) : config.fn(prepared.args, ctx);
    const propagation = this.#host.propagation;
    const started = performance.now();
    const fnDone = new Promise<unknown>((resolve) => {
      resolve(propagation ? propagation.runInContext(prepared.headers, invoke) : invoke());
    });
    // The slot is freed only when the function really returns, whatever happened to the message.
    const release = () => {
      this.#running.delete(run);
      slot.runs.delete(run);
      this.#pump();
    };

    const timeoutMs = config.timeoutMs ?? this.#defaultTimeoutMs;
    const deadline =
      timeoutMs > 0
        ? this.#deadlines.add(timeoutMs, () => {
            abortRun(
              run,
              new TasksError('DSP_TASKS_TASK_TIMEOUT', `task ${prepared.name} exceeded ${timeoutMs} ms`, {
                details: { uuid: prepared.uuid, timeoutMs },
              }),
            );
          })
        : undefined;
    // One promise for the outcome: the function settling, or its abort (timeout, shutdown, channel lost).
    const outcome = await new Promise<Outcome>((resolve) => {
      run.onAbort = (reason) => resolve({ kind: 'failed', error: reason });
      fnDone.then(
        (value) => {
          release();
          resolve({ kind: 'ok', value });
        },
        (error: unknown) => {
          release();
          resolve({ kind: 'failed', error });
        },
      );
    });
    deadline?.cancel();
    const durationMs = performance.now() - started;
    await this.#settleSafely(prepared, prepared.attempt, prepared, () =>
      this.#settle(prepared, outcome, durationMs, event),
    );
  }

  /**
   * Runs one settle path of a delivery. If it throws anyway, the delivery still ends: dead-lettered with
   * that error, or requeued after a pause when even that fails. Left unsettled, it would hold a prefetch
   * credit for good, and `limit` of those wedge the worker.
   */
  async #settleSafely(
    target: SettleTarget,
    attempt: number,
    identity: Identity,
    work: () => Promise<unknown>,
  ): Promise<void> {
    try {
      await work();
    } catch (err) {
      const { error } = describeError(err);
      try {
        this.#host.reporter.problem(`worker ${this.name}`, error, { queue: this.queue, uuid: identity.uuid });
      } catch {
        // A logger that throws must not stop the settle below.
      }
      if (target.slot.acks.isSettled(target.msg)) return;
      try {
        await this.#deadLetter(target.slot, target.msg, 'failed', error, attempt, identity);
      } catch (again) {
        this.#afterFailedSettle(target, again);
      }
    }
  }

  async #settle(
    prepared: Prepared,
    outcome: Outcome,
    durationMs: number,
    event: TaskEventBase,
  ): Promise<void> {
    const { reporter } = this.#host;
    if (outcome.kind === 'ok') {
      const resultSchema = prepared.config.result;
      let value = outcome.value;
      if (resultSchema) {
        const parsed = resultSchema.safeParse(value);
        if (!parsed.success) {
          const error = new TasksError(
            'DSP_TASKS_VALIDATION',
            `task ${prepared.name}: invalid result: ${parsed.error.message}`,
          );
          this.#stats.failed++;
          reporter.events.emit('task:failed', { ...event, durationMs, error });
          await this.#deadLetter(
            prepared.slot,
            prepared.msg,
            'validation',
            error,
            prepared.attempt,
            prepared,
          );
          return;
        }
        value = parsed.data;
      }
      // Only call() waits for a reply; skipping the await spares most tasks a turn of microtasks.
      if (prepared.msg.properties.replyTo) {
        await this.#replyTo(prepared.slot, prepared.msg, { ok: true, result: value }, prepared);
      }
      if (this.#ack(prepared)) {
        this.#stats.succeeded++;
        reporter.events.emit('task:succeeded', { ...event, durationMs });
        if (this.#host.debug) reporter.log.debug({ ...event, durationMs }, 'task succeeded');
      }
      return;
    }

    const error = outcome.error;
    if (TasksError.hasCode(error, 'DSP_TASKS_CHANNEL_LOST')) {
      // The broker redelivers it; its settle belongs to a dead channel and is dropped.
      reporter.log.debug({ ...event }, 'task abandoned: channel lost');
      this.#dropped(prepared.uuid);
      return;
    }
    if (TasksError.hasCode(error, 'DSP_TASKS_SHUTDOWN')) {
      this.#nack(prepared, true);
      return;
    }
    const described = describeError(error);
    this.#stats.failed++;
    reporter.events.emit('task:failed', { ...event, durationMs, error: described.error });
    reporter.log.warn({ ...event, err: described.error, durationMs }, 'task failed');

    let decision: RetryDecision;
    try {
      decision = this.#decide(prepared);
    } catch (policyError) {
      // A broken policy must not wedge the worker: the task goes to the dead-letter queue with its error.
      const { error: broken } = describeError(policyError);
      reporter.problem(`worker ${this.name}`, broken, { queue: this.queue, uuid: prepared.uuid });
      await this.#deadLetter(prepared.slot, prepared.msg, 'failed', broken, prepared.attempt, prepared);
      return;
    }
    if (decision.action === 'give-up') {
      await this.#deadLetter(
        prepared.slot,
        prepared.msg,
        'failed',
        described.error,
        prepared.attempt,
        prepared,
      );
      return;
    }
    const headers = {
      ...prepared.headers,
      [TaskHeaders.attempt]: prepared.attempt + 1,
      [TaskHeaders.firstAttemptAt]: prepared.firstAttemptAt,
      [TaskHeaders.errorCode]: described.code,
      [TaskHeaders.errorMessage]: described.message,
    };
    if (await this.#delay(prepared, Date.now() + Math.max(0, decision.delayMs), headers)) {
      this.#stats.retried++;
      reporter.events.emit('task:retried', { ...event, delayMs: decision.delayMs, error: described.error });
    }
  }

  /** The retry policy's decision for a failed attempt; throws when the policy throws or answers nonsense. */
  #decide(prepared: Prepared): RetryDecision {
    const policy = this.#retryPolicies.get(prepared.name) ?? this.#defaultRetry;
    const decision = policy.next({
      attempt: prepared.attempt,
      firstAttemptAt: prepared.firstAttemptAt,
      now: Date.now(),
    });
    if (decision?.action === 'give-up') return decision;
    if (decision?.action === 'retry' && Number.isFinite(decision.delayMs)) return decision;
    throw new TasksError(
      'DSP_TASKS_INVALID_ARGUMENT',
      `the retry policy of task ${prepared.name} answered ${describeError(decision).message}`,
    );
  }

  /**
   * Sends the message round a delay bucket back to this queue (retry or early arrival), to run no earlier
   * than `notBefore` (epoch ms); then acks. The bucket is at most the largest one: a longer wait comes back
   * early and goes round again.
   */
  async #delay(prepared: Prepared, notBefore: number, headers: Record<string, unknown>): Promise<boolean> {
    const { slot, msg } = prepared;
    if (!slot.alive) return this.#ack(prepared);
    headers[TaskHeaders.notBefore] = notBefore;
    const delayMs = notBefore - Date.now();
    try {
      const target =
        delayMs < MIN_DELAY_MS ? undefined : { exchange: '', routingKey: this.queue, prefix: this.queue };
      const queue = target
        ? (await slot.delayQueues.bucket(slot.channel, target, delayMs)).queue
        : this.queue;
      await slot.tracker.publish('', queue, msg.content, republishOptions(msg, headers)).confirmed;
    } catch (err) {
      this.#afterFailedSettle(prepared, err);
      return false;
    }
    return this.#ack(prepared);
  }

  async #deadLetter(
    slot: ChannelSlot,
    msg: ConsumeMessage,
    reason: DeadLetterReason,
    err: unknown,
    attempt: number,
    identity: Identity,
  ): Promise<void> {
    const described = describeError(err);
    const headers: Record<string, unknown> = {
      ...msg.properties.headers,
      [TaskHeaders.deadLetterReason]: reason,
      [TaskHeaders.errorCode]: described.code,
      [TaskHeaders.errorMessage]: described.message,
      [TaskHeaders.errorStack]: described.stack,
      [TaskHeaders.attempts]: attempt,
      [TaskHeaders.failedAt]: Date.now(),
      [TaskHeaders.queue]: this.queue,
      [TaskHeaders.worker]: this.name,
    };
    delete headers[TaskHeaders.notBefore];
    const settleTarget = { slot, msg };
    if (!slot.alive) {
      this.#dropped(identity.uuid);
      return;
    }
    try {
      await slot.tracker.publish(
        '',
        deadLetterQueueName(this.queue),
        msg.content,
        republishOptions(msg, headers),
      ).confirmed;
    } catch (publishErr) {
      this.#afterFailedSettle(settleTarget, publishErr);
      return;
    }
    await this.#replyTo(
      slot,
      msg,
      { ok: false, error: { code: described.code, message: described.message, reason } },
      identity,
    );
    if (this.#settleOn(slot, msg, 'ack')) {
      this.#stats.deadLettered++;
      const event = {
        worker: this.name,
        queue: this.queue,
        uuid: identity.uuid,
        name: identity.name,
        attempt,
      };
      this.#host.reporter.events.emit('task:dead-lettered', { ...event, reason, error: described.error });
      this.#host.reporter.log.warn({ ...event, reason, err: described.error }, 'task dead-lettered');
    }
  }

  #afterFailedSettle(target: SettleTarget, err: unknown): void {
    if (!target.slot.alive) {
      // The broker redelivers it; the settle is dropped.
      this.#dropped(bodyIdentity(target.msg).uuid);
      return;
    }
    this.#host.reporter.problem(`worker ${this.name}`, describeError(err).error, { queue: this.queue });
    if (this.#state !== 'running') {
      // Closing: nothing consumes it again here, so no loop to fear; give it back before the channel goes.
      this.#settleOn(target.slot, target.msg, 'requeue');
      return;
    }
    // Give it back later rather than at once: an immediate requeue of a message we cannot park is a hot loop.
    const timer = setTimeout(() => {
      this.#requeueTimers.delete(timer);
      this.#settleOn(target.slot, target.msg, 'requeue');
    }, REQUEUE_AFTER_FAILED_SETTLE_MS);
    // The open channel keeps the process alive while it matters; close() requeues at once.
    timer.unref();
    this.#requeueTimers.set(timer, target);
  }

  async #replyTo(
    slot: ChannelSlot,
    msg: ConsumeMessage,
    reply: TaskReply,
    identity: Identity,
  ): Promise<void> {
    const { replyTo, correlationId } = msg.properties;
    if (!replyTo || !slot.alive) return;
    const content = this.#encodeReply(reply, identity);
    try {
      // Best effort: a caller that went away leaves nobody to answer.
      await slot.tracker.publish('', String(replyTo), content, {
        correlationId,
        contentType: 'application/json',
      }).confirmed;
    } catch (err) {
      this.#host.reporter.log.debug({ err, worker: this.name }, 'reply not delivered');
    }
  }

  /** The reply as JSON; a result JSON cannot hold becomes a `DSP_TASKS_ENCODE` reply (and is reported). */
  #encodeReply(reply: TaskReply, identity: Identity): Buffer {
    try {
      return Buffer.from(JSON.stringify(reply));
    } catch (err) {
      // The task ran and is acked; only its result cannot travel. The caller learns why instead of timing out.
      const error = new TasksError(
        'DSP_TASKS_ENCODE',
        `the result of task ${identity.name} cannot be encoded as JSON: ${describeError(err).message}`,
        { cause: err, details: { uuid: identity.uuid } },
      );
      this.#host.reporter.problem(`worker ${this.name}`, error, { queue: this.queue, uuid: identity.uuid });
      const failed: TaskReply = {
        ok: false,
        error: { code: error.code, message: error.message, reason: ENCODE_REPLY_REASON },
      };
      return Buffer.from(JSON.stringify(failed));
    }
  }

  #ack(prepared: Prepared): boolean {
    return this.#settleOn(prepared.slot, prepared.msg, 'ack');
  }

  #nack(prepared: Prepared, requeue: boolean): boolean {
    return this.#settleOn(prepared.slot, prepared.msg, requeue ? 'requeue' : 'reject');
  }

  #settleOn(slot: ChannelSlot, msg: ConsumeMessage, how: 'ack' | 'requeue' | 'reject'): boolean {
    if (!slot.alive) {
      this.#dropped(bodyIdentity(msg).uuid);
      return false;
    }
    if (slot.acks.isSettled(msg)) {
      // A second settle of one tag is a channel error (406) that would take every other delivery with it.
      this.#host.reporter.log.debug({ worker: this.name, how }, 'delivery already settled');
      return false;
    }
    try {
      if (how === 'ack') slot.acks.ack(msg);
      else slot.acks.nack(msg, how === 'requeue');
      return true;
    } catch {
      this.#dropped(bodyIdentity(msg).uuid);
      return false;
    }
  }

  #dropped(uuid: string): void {
    this.#stats.droppedAcks++;
    this.#host.reporter.events.emit('ack:dropped', { worker: this.name, uuid });
  }

  #event(prepared: Prepared): TaskEventBase {
    return {
      worker: this.name,
      queue: this.queue,
      uuid: prepared.uuid,
      name: prepared.name,
      attempt: prepared.attempt,
    };
  }
}

/** Properties for sending a received message on (to a bucket or the dead-letter queue), persistent. */
function republishOptions(msg: ConsumeMessage, headers: Record<string, unknown>): Options.Publish {
  const p = msg.properties;
  const options: Options.Publish = { headers, persistent: true, mandatory: true };
  if (p.contentType !== undefined) options.contentType = p.contentType;
  if (p.contentEncoding !== undefined) options.contentEncoding = p.contentEncoding;
  if (p.priority !== undefined) options.priority = p.priority;
  if (p.correlationId !== undefined) options.correlationId = p.correlationId;
  if (p.replyTo !== undefined) options.replyTo = p.replyTo;
  if (p.messageId !== undefined) options.messageId = p.messageId;
  if (p.timestamp !== undefined) options.timestamp = p.timestamp;
  if (p.type !== undefined) options.type = p.type;
  if (p.appId !== undefined) options.appId = p.appId;
  return options;
}

/** Best-effort uuid and name of a message that may not decode, for events and logs. */
function bodyIdentity(msg: ConsumeMessage): { uuid: string; name: string } {
  try {
    const body = JSON.parse(msg.content.toString('utf8')) as { uuid?: unknown; name?: unknown };
    return {
      uuid: typeof body.uuid === 'string' ? body.uuid : String(msg.properties.messageId ?? ''),
      name: typeof body.name === 'string' ? body.name : '',
    };
  } catch {
    return { uuid: String(msg.properties.messageId ?? ''), name: '' };
  }
}
