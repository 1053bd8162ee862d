import { newMessageId, settleWithin } from '@dispatcher/core';
import type { Channel, ChannelModel, ConsumeMessage, Options } from 'amqplib';
import { toBrokerError } from './connection/broker-error.js';
import { ConfirmTracker } from './connection/confirm-tracker.js';
import { TasksError } from './errors.js';
import type { ParseSchema } from './task-config.js';
import type { Reporter } from './task-events.js';
import { ENCODE_REPLY_REASON, type TaskReply } from './task-reply.js';

/** RabbitMQ's direct reply-to pseudo queue: replies go straight to the calling channel, no queue needed. */
export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';

/** What the RPC client needs from its server. */
export interface RpcHost {
  readonly reporter: Reporter;
  model(): ChannelModel | undefined;
  waitOpen(signal: AbortSignal): Promise<void>;
  prepare(channel: Channel): Promise<void>;
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(err: Error): void;
  result: ParseSchema | undefined;
}

/**
 * `call()`: publishes a task with `replyTo` set to direct reply-to on its own channel and waits for the
 * worker's reply. Replies can only reach the channel that published, so calls in flight when that channel
 * dies reject with `DSP_TASKS_CHANNEL_LOST` (the task itself may still run).
 */
export class RpcClient {
  readonly #host: RpcHost;
  #tracker: ConfirmTracker | undefined;
  #opening: Promise<ConfirmTracker> | undefined;
  #closed = false;
  readonly #pending = new Map<string, PendingCall>();

  constructor(host: RpcHost) {
    this.#host = host;
  }

  async call(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
    limits: { timeoutMs: number; signal?: AbortSignal; result?: ParseSchema },
  ): Promise<unknown> {
    if (this.#closed) throw new TasksError('DSP_TASKS_CLOSED', 'the server is closed');
    const signals = [AbortSignal.timeout(limits.timeoutMs), ...(limits.signal ? [limits.signal] : [])];
    const signal = AbortSignal.any(signals);
    const correlationId = newMessageId();
    const settled = new Promise<unknown>((resolve, reject) => {
      this.#pending.set(correlationId, { resolve, reject, result: limits.result });
    });
    // It may reject before it is awaited below (abort while waiting for the channel).
    settled.catch(() => undefined);
    const onAbort = () => {
      const pending = this.#pending.get(correlationId);
      if (!pending) return;
      this.#pending.delete(correlationId);
      pending.reject(
        limits.signal?.aborted
          ? new TasksError('DSP_TASKS_ABORTED', 'the call was aborted', { cause: limits.signal.reason })
          : new TasksError('DSP_TASKS_CALL_TIMEOUT', `no result within ${limits.timeoutMs} ms`),
      );
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const tracker = await this.#channel(signal);
      await tracker.publish(exchange, routingKey, content, {
        ...options,
        replyTo: DIRECT_REPLY_TO,
        correlationId,
        mandatory: true,
      }).confirmed;
    } catch (err) {
      const pending = this.#pending.get(correlationId);
      this.#pending.delete(correlationId);
      pending?.reject(err instanceof Error ? err : new Error(String(err)));
    }
    try {
      return await settled;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Rejects calls in flight and closes the channel. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#rejectAll(new TasksError('DSP_TASKS_CLOSED', 'the server closed before the result arrived'));
    const tracker = this.#tracker;
    this.#tracker = undefined;
    // Bounded: a broker that stopped answering would never send close-ok.
    if (tracker && !tracker.closed)
      await settleWithin(
        tracker.channel.close().catch(() => undefined),
        1_000,
      );
  }

  async #channel(signal: AbortSignal): Promise<ConfirmTracker> {
    if (this.#tracker && !this.#tracker.closed) return this.#tracker;
    await this.#host.waitOpen(signal);
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #open(): Promise<ConfirmTracker> {
    const model = this.#host.model();
    if (!model) throw new TasksError('DSP_TASKS_CHANNEL_LOST', 'not connected');
    const channel = await model.createConfirmChannel();
    channel.on('error', (err: Error) => this.#host.reporter.problem('rpc', toBrokerError(err, 'channel')));
    const tracker = new ConfirmTracker(channel);
    channel.on('close', () => {
      if (this.#tracker === tracker) this.#tracker = undefined;
      this.#rejectAll(new TasksError('DSP_TASKS_CHANNEL_LOST', 'the channel awaiting the result closed'));
    });
    await this.#host.prepare(channel);
    await channel.consume(DIRECT_REPLY_TO, (msg) => this.#onReply(msg), { noAck: true });
    this.#tracker = tracker;
    return tracker;
  }

  #onReply(msg: ConsumeMessage | null): void {
    if (!msg) return;
    const correlationId = String(msg.properties.correlationId ?? '');
    const pending = this.#pending.get(correlationId);
    if (!pending) return; // timed out meanwhile
    this.#pending.delete(correlationId);
    let reply: TaskReply;
    try {
      reply = JSON.parse(msg.content.toString('utf8')) as TaskReply;
    } catch (err) {
      pending.reject(new TasksError('DSP_TASKS_DECODE', 'the reply is not valid JSON', { cause: err }));
      return;
    }
    if (!reply.ok) {
      if (reply.error?.code === 'DSP_TASKS_ENCODE' && reply.error.reason === ENCODE_REPLY_REASON) {
        // The task ran; its result could not travel. Its own code, not TASK_FAILED: nothing failed to run.
        pending.reject(
          new TasksError('DSP_TASKS_ENCODE', reply.error.message, { details: { ...reply.error } }),
        );
        return;
      }
      const remote = new TasksError('DSP_TASKS_TASK_FAILED', `task failed: ${reply.error?.message}`, {
        details: { ...reply.error },
      });
      pending.reject(remote);
      return;
    }
    if (pending.result) {
      const parsed = pending.result.safeParse(reply.result);
      if (!parsed.success) {
        pending.reject(new TasksError('DSP_TASKS_VALIDATION', `invalid result: ${parsed.error.message}`));
        return;
      }
      pending.resolve(parsed.data);
      return;
    }
    pending.resolve(reply.result);
  }

  #rejectAll(err: Error): void {
    for (const pending of this.#pending.values()) pending.reject(err);
    this.#pending.clear();
  }
}
