/**
 * The settle paths of a worker's deliveries: ack (after the reply for `call()`), retry through a delay
 * bucket, dead-letter, requeue. Every path ends the delivery exactly once on the channel it came from:
 *
 *   outcome ok ──▶ [reply] ──▶ ack
 *   outcome failed ──▶ policy: retry ──▶ bucket with attempt+1 (confirm, then ack)
 *                  ├─▶ policy: give up / broken ──▶ dead-letter queue (confirm, then ack)
 *                  ├─▶ shutdown ──▶ nack with requeue
 *                  └─▶ channel lost ──▶ nothing (the broker redelivers; counted as dropped)
 *   a copy the broker does not confirm ──▶ requeue after 1 s (at once when closing)
 *
 * A settle on a dead channel is dropped and counted, never sent on a newer channel where the tag means
 * something else.
 */
import type { RetryDecision, RetryPolicy } from '@dispatcher/core';
import type { ConsumeMessage, Options } from 'amqplib';
import { MIN_DELAY_MS } from '../delay-queues.js';
import { TasksError } from '../errors.js';
import type { DeadLetterReason, Reporter, TaskEventBase } from '../task-events.js';
import { TaskHeaders } from '../task-headers.js';
import { ENCODE_REPLY_REASON, type TaskReply } from '../task-reply.js';
import { deadLetterQueueName } from '../topology.js';
import { bodyIdentity, type ChannelSlot, type Identity, type SettleTarget } from './channel-slot.js';
import { describeError } from './describe-error.js';
import type { PreparedDelivery } from './prepared-delivery.js';
import type { Outcome } from './task-run.js';

/** Before a message whose retry or dead-letter publish failed is requeued (no hot loop), in milliseconds. */
const REQUEUE_AFTER_FAILED_SETTLE_MS = 1_000;

/** The counters a settler moves (the worker's stats object). */
export interface SettleCounters {
  succeeded: number;
  failed: number;
  retried: number;
  deadLettered: number;
  droppedAcks: number;
}

/** What a {@link Settler} needs from its worker. */
export interface SettlerOptions {
  readonly worker: string;
  readonly queue: string;
  readonly reporter: Reporter;
  readonly debug: boolean;
  readonly counters: SettleCounters;
  /** The retry policy of a task (its own, or the worker's default). */
  retryPolicy(taskName: string): RetryPolicy;
  /** False once the worker is closing: a failed settle then requeues at once. */
  isRunning(): boolean;
}

export class Settler {
  readonly #o: SettlerOptions;
  /** Deliveries waiting out the pause before their requeue after a failed settle. */
  readonly #requeueTimers = new Map<NodeJS.Timeout, SettleTarget>();

  constructor(options: SettlerOptions) {
    this.#o = options;
  }

  /**
   * Runs one settle path of a delivery. If it throws anyway, the delivery still ends: dead-lettered with
   * that error, or requeued after a pause when even that fails. Left unsettled, it would hold a prefetch
   * credit for good, and `limit` of those wedge the worker.
   */
  async settleSafely(
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
        this.#o.reporter.problem(`worker ${this.#o.worker}`, error, {
          queue: this.#o.queue,
          uuid: identity.uuid,
        });
      } catch {
        // A logger that throws must not stop the settle below.
      }
      if (target.slot.acks.isSettled(target.msg)) return;
      try {
        await this.deadLetter(target, 'failed', error, attempt, identity);
      } catch (again) {
        this.#afterFailedSettle(target, again);
      }
    }
  }

  /**
   * Ends a run's delivery according to its outcome (see the diagram above). The common case, a success
   * without a result schema or a caller waiting for a reply, is settled before this returns (the ack is
   * marked for the next flush) and answers `undefined`; every other path answers the promise of its work.
   */
  settle(prepared: PreparedDelivery, outcome: Outcome, durationMs: number): Promise<void> | undefined {
    if (outcome.kind === 'ok' && !prepared.config.result && !prepared.msg.properties.replyTo) {
      this.#acked(prepared, durationMs);
      return undefined;
    }
    return this.#settleAsync(prepared, outcome, durationMs, this.#eventOf(prepared));
  }

  /** Who an event is about. */
  #eventOf(prepared: PreparedDelivery): TaskEventBase {
    const { worker, queue } = this.#o;
    return { worker, queue, uuid: prepared.uuid, name: prepared.name, attempt: prepared.attempt };
  }

  /** Acks a success and counts and tells it. */
  #acked(prepared: PreparedDelivery, durationMs: number): void {
    if (!this.settleOn(prepared, 'ack')) return;
    const { reporter, worker, queue, debug } = this.#o;
    this.#o.counters.succeeded++;
    // The payload only when someone reads it (this runs once per task), built in one go.
    if (reporter.events.has('task:succeeded') || debug) {
      const { uuid, name, attempt } = prepared;
      const payload = { worker, queue, uuid, name, attempt, durationMs };
      reporter.events.emit('task:succeeded', payload);
      if (debug) reporter.log.debug({ ...payload }, 'task succeeded');
    }
  }

  async #settleAsync(
    prepared: PreparedDelivery,
    outcome: Outcome,
    durationMs: number,
    event: TaskEventBase,
  ): Promise<void> {
    const { reporter, counters } = this.#o;
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
          counters.failed++;
          reporter.events.emit('task:failed', { ...event, durationMs, error });
          await this.deadLetter(prepared, 'validation', error, prepared.attempt, prepared);
          return;
        }
        value = parsed.data;
      }
      // Only call() waits for a reply; skipping the await spares most tasks a turn of microtasks.
      if (prepared.msg.properties.replyTo) {
        await this.#replyTo(prepared.slot, prepared.msg, { ok: true, result: value }, prepared);
      }
      this.#acked(prepared, durationMs);
      return;
    }

    const error = outcome.error;
    if (TasksError.hasCode(error, 'DSP_TASKS_CHANNEL_LOST')) {
      // The broker redelivers it; its settle belongs to a dead channel and is dropped.
      reporter.log.debug({ ...event }, 'task abandoned: channel lost');
      this.dropped(prepared.uuid);
      return;
    }
    if (TasksError.hasCode(error, 'DSP_TASKS_SHUTDOWN')) {
      this.settleOn(prepared, 'requeue');
      return;
    }
    const described = describeError(error);
    counters.failed++;
    reporter.events.emit('task:failed', { ...event, durationMs, error: described.error });
    reporter.log.warn({ ...event, err: described.error, durationMs }, 'task failed');

    let decision: RetryDecision;
    try {
      decision = this.#decide(prepared);
    } catch (policyError) {
      // A broken policy must not wedge the worker: the task goes to the dead-letter queue with its error.
      const { error: broken } = describeError(policyError);
      reporter.problem(`worker ${this.#o.worker}`, broken, { queue: this.#o.queue, uuid: prepared.uuid });
      await this.deadLetter(prepared, 'failed', broken, prepared.attempt, prepared);
      return;
    }
    if (decision.action === 'give-up') {
      await this.deadLetter(prepared, 'failed', described.error, prepared.attempt, prepared);
      return;
    }
    const headers = {
      ...prepared.headers,
      [TaskHeaders.attempt]: prepared.attempt + 1,
      [TaskHeaders.firstAttemptAt]: prepared.firstAttemptAt,
      [TaskHeaders.errorCode]: described.code,
      [TaskHeaders.errorMessage]: described.message,
    };
    if (await this.delay(prepared, Date.now() + Math.max(0, decision.delayMs), headers)) {
      counters.retried++;
      reporter.events.emit('task:retried', { ...event, delayMs: decision.delayMs, error: described.error });
    }
  }

  /** The retry policy's decision for a failed attempt; throws when the policy throws or answers nonsense. */
  #decide(prepared: PreparedDelivery): RetryDecision {
    const decision = this.#o.retryPolicy(prepared.name).next({
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
  async delay(target: SettleTarget, notBefore: number, headers: Record<string, unknown>): Promise<boolean> {
    const { slot, msg } = target;
    if (!slot.alive) return this.settleOn(target, 'ack');
    headers[TaskHeaders.notBefore] = notBefore;
    const delayMs = notBefore - Date.now();
    const { queue: own } = this.#o;
    try {
      const bucket = delayMs < MIN_DELAY_MS ? undefined : { exchange: '', routingKey: own, prefix: own };
      const queue = bucket ? (await slot.delayQueues.bucket(slot.channel, bucket, delayMs)).queue : own;
      await slot.tracker.publish('', queue, msg.content, republishOptions(msg, headers)).confirmed;
    } catch (err) {
      this.#afterFailedSettle(target, err);
      return false;
    }
    return this.settleOn(target, 'ack');
  }

  /** Publishes the delivery to `<queue>.dead` with why it failed, confirms, replies to a `call()`, then acks. */
  async deadLetter(
    target: SettleTarget,
    reason: DeadLetterReason,
    err: unknown,
    attempt: number,
    identity: Identity,
  ): Promise<void> {
    const { slot, msg } = target;
    const { worker, queue, reporter } = this.#o;
    const described = describeError(err);
    const headers: Record<string, unknown> = {
      ...msg.properties.headers,
      [TaskHeaders.deadLetterReason]: reason,
      [TaskHeaders.errorCode]: described.code,
      [TaskHeaders.errorMessage]: described.message,
      [TaskHeaders.errorStack]: described.stack,
      [TaskHeaders.attempts]: attempt,
      [TaskHeaders.failedAt]: Date.now(),
      [TaskHeaders.queue]: queue,
      [TaskHeaders.worker]: worker,
    };
    delete headers[TaskHeaders.notBefore];
    if (!slot.alive) {
      this.dropped(identity.uuid);
      return;
    }
    try {
      await slot.tracker.publish('', deadLetterQueueName(queue), msg.content, republishOptions(msg, headers))
        .confirmed;
    } catch (publishErr) {
      this.#afterFailedSettle(target, publishErr);
      return;
    }
    await this.#replyTo(
      slot,
      msg,
      { ok: false, error: { code: described.code, message: described.message, reason } },
      identity,
    );
    if (this.settleOn(target, 'ack')) {
      this.#o.counters.deadLettered++;
      const event = { worker, queue, uuid: identity.uuid, name: identity.name, attempt };
      reporter.events.emit('task:dead-lettered', { ...event, reason, error: described.error });
      reporter.log.warn({ ...event, reason, err: described.error }, 'task dead-lettered');
    }
  }

  #afterFailedSettle(target: SettleTarget, err: unknown): void {
    if (!target.slot.alive) {
      // The broker redelivers it; the settle is dropped.
      this.dropped(bodyIdentity(target.msg).uuid);
      return;
    }
    this.#o.reporter.problem(`worker ${this.#o.worker}`, describeError(err).error, { queue: this.#o.queue });
    if (!this.#o.isRunning()) {
      // Closing: nothing consumes it again here, so no loop to fear; give it back before the channel goes.
      this.settleOn(target, 'requeue');
      return;
    }
    // Give it back later rather than at once: an immediate requeue of a message we cannot park is a hot loop.
    const timer = setTimeout(() => {
      this.#requeueTimers.delete(timer);
      this.settleOn(target, 'requeue');
    }, REQUEUE_AFTER_FAILED_SETTLE_MS);
    // The open channel keeps the process alive while it matters; close() requeues at once.
    timer.unref();
    this.#requeueTimers.set(timer, target);
  }

  /** Requeues at once what waits out its pause (close(): while the channel is still open). */
  requeuePausedNow(): void {
    for (const [timer, target] of this.#requeueTimers) {
      clearTimeout(timer);
      this.settleOn(target, 'requeue');
    }
    this.#requeueTimers.clear();
  }

  /** A channel died: its paused requeues can never be sent (the broker redelivers); dropped and counted. */
  forgetPausedOf(slot: ChannelSlot | undefined): void {
    for (const [timer, target] of this.#requeueTimers) {
      if (slot !== undefined && target.slot !== slot) continue;
      clearTimeout(timer);
      this.#requeueTimers.delete(timer);
      this.dropped(bodyIdentity(target.msg).uuid);
    }
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
      this.#o.reporter.log.debug({ err, worker: this.#o.worker }, 'reply not delivered');
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
      this.#o.reporter.problem(`worker ${this.#o.worker}`, error, {
        queue: this.#o.queue,
        uuid: identity.uuid,
      });
      const failed: TaskReply = {
        ok: false,
        error: { code: error.code, message: error.message, reason: ENCODE_REPLY_REASON },
      };
      return Buffer.from(JSON.stringify(failed));
    }
  }

  /**
   * Acks, requeues or rejects a delivery on its own channel; false (and counted as dropped) when that
   * channel is gone, false when it was settled already (a second settle of a tag is a 406 that would take
   * every other delivery of the channel with it).
   */
  settleOn(target: SettleTarget, how: 'ack' | 'requeue' | 'reject'): boolean {
    const { slot, msg } = target;
    if (!slot.alive) {
      this.dropped(bodyIdentity(msg).uuid);
      return false;
    }
    if (slot.acks.isSettled(msg)) {
      this.#o.reporter.log.debug({ worker: this.#o.worker, how }, 'delivery already settled');
      return false;
    }
    try {
      if (how === 'ack') slot.acks.ack(msg);
      else slot.acks.nack(msg, how === 'requeue');
      return true;
    } catch {
      this.dropped(bodyIdentity(msg).uuid);
      return false;
    }
  }

  /** Counts a settle that could not be sent (its channel is gone) and tells listeners. */
  dropped(uuid: string): void {
    this.#o.counters.droppedAcks++;
    this.#o.reporter.events.emit('ack:dropped', { worker: this.#o.worker, uuid });
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
