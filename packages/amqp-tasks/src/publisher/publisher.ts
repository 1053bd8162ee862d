import { type Logger, settleWithin } from '@dispatcher/core';
import type { Channel, ChannelModel, Options } from 'amqplib';
import { toBrokerError } from '../connection/broker-error.js';
import { ConfirmTracker } from '../connection/confirm-tracker.js';
import { ReopenTimer } from '../connection/reopen-timer.js';
import { DelayQueues, type DelayTarget } from '../delay-queues.js';
import { TasksError } from '../errors.js';
import type { Reporter } from '../task-events.js';
import { type Deadline, DeadlineQueue } from '../timers/deadline-queue.js';

/** One message to publish. */
export interface OutgoingMessage {
  /** The task's uuid (also the message id). */
  uuid: string;
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: Options.Publish;
  /** Hold the message this long in a delay bucket before it is routed, in milliseconds. */
  delay?: { ms: number; target: DelayTarget };
}

/** What a {@link Pending} tells its publisher. */
interface PendingHooks {
  /** The confirm channel's verdict on the publish (see ConfirmTracker#send). */
  confirmed(pending: Pending, err: Error | undefined): void;
  /** The publish settled (resolved or rejected): forget it. */
  finished(pending: Pending): void;
}

/**
 * One accepted publish until it settles. A class rather than closures: the confirm channel and the
 * deadline call its methods, so a publish costs this object and its promise, nothing per callback.
 */
class Pending {
  settled = false;
  deadline: Deadline | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  /** Neighbours in the publisher's list of accepted publishes (a list, not a Set: no hashing per publish). */
  prev: Pending | undefined = undefined;
  next: Pending | undefined = undefined;

  constructor(
    readonly hooks: PendingHooks,
    readonly message: OutgoingMessage,
    readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
    readonly value: unknown,
    readonly resolve: (value: unknown) => void,
    readonly reject: (err: Error) => void,
  ) {}

  /** Settles the publish: confirmed without an argument, else rejected with `err`. */
  finish(err?: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.deadline?.cancel();
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    this.hooks.finished(this);
    if (err) this.reject(err);
    else this.resolve(this.value);
  }

  /** The confirm channel's callback (ConfirmTarget). */
  confirmed(err?: Error): void {
    this.hooks.confirmed(this, err);
  }

  /** The deadline's callback (OnExpire). */
  expire(): void {
    this.finish(new TasksError('DSP_TASKS_PUBLISH_TIMEOUT', `not confirmed within ${this.timeoutMs} ms`));
  }
}

/** What the publisher needs from its server. */
export interface PublisherHost {
  readonly reporter: Reporter;
  readonly log: Logger;
  model(): ChannelModel | undefined;
  /** Declares what publishing needs (the exchange) on a fresh channel. */
  prepare(channel: Channel): Promise<void>;
  readonly maxBuffered: number;
}

/** How long close() waits for the broker to acknowledge the channel close before it moves on, in milliseconds. */
const CHANNEL_CLOSE_GRACE_MS = 1_000;

/**
 * The publisher: its own confirm channel; many publishes in flight; a bounded buffer while there is no
 * channel. A publish whose channel dies before its confirm is sent again on the next channel (at least
 * once: the broker may have routed the first copy), until its own timeout.
 *
 * Once close() begins nothing is sent again and no channel is opened: what the open channel confirms
 * before the deadline resolves; a publish whose channel dies meanwhile, or that waits for a channel,
 * and whatever is unconfirmed at the deadline reject at once with `DSP_TASKS_CLOSED` (their timers
 * cleared), so no publish outlives close() and no timer keeps the process alive.
 */
export class Publisher {
  readonly #host: PublisherHost;
  #tracker: ConfirmTracker | undefined;
  #delayQueues = new DelayQueues();
  #opening: Promise<void> | undefined;
  /** close() started: no new publishes, no new channel; the open channel's confirms count until the deadline. */
  #closing = false;
  readonly #reopen = new ReopenTimer(100, () => this.#ensureChannel());
  #waitingDrain = false;
  /** Accepted, not yet sent (no channel, or waiting for drain). */
  readonly #queue: Pending[] = [];
  /** Accepted and not settled (queued or in flight). */
  #outstanding = 0;
  /** The same publishes, so close() can settle every one of them, wherever it is: a list through them. */
  #accepted: Pending | undefined = undefined;
  readonly #idle = new Set<() => void>();
  /** Publish timeouts (one timer per distinct `timeoutMs`, not one per publish). */
  readonly #deadlines = new DeadlineQueue();
  #closePromise: Promise<void> | undefined;
  /** Ends close()'s wait for confirms now (a later close(0), i.e. destroy during a graceful close). */
  #stopWaiting: (() => void) | undefined;

  readonly #hooks: PendingHooks = {
    confirmed: (pending, err) => this.#onConfirm(pending, err),
    finished: (pending) => {
      const { prev, next } = pending;
      if (prev) prev.next = next;
      else if (this.#accepted === pending) this.#accepted = next;
      if (next) next.prev = prev;
      pending.prev = pending.next = undefined;
      this.#outstanding--;
      if (this.#outstanding === 0) {
        for (const wake of [...this.#idle]) wake();
        this.#idle.clear();
      }
    },
  };

  constructor(host: PublisherHost) {
    this.#host = host;
  }

  /** Publishes accepted and not yet settled. */
  get outstanding(): number {
    return this.#outstanding;
  }

  get connected(): boolean {
    return this.#tracker !== undefined && !this.#tracker.closed;
  }

  /**
   * Publishes `message`; resolves with `value` once the broker confirmed it. `timeoutMs`: time until
   * confirmed, waiting for a connection included; `signal` cancels the wait.
   */
  send<T>(
    message: OutgoingMessage,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    value: T,
  ): Promise<T> {
    if (this.#closing) return Promise.reject(new TasksError('DSP_TASKS_CLOSED', 'the publisher is closed'));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.#outstanding >= this.#host.maxBuffered) {
      return Promise.reject(
        new TasksError('DSP_TASKS_BUFFER_FULL', `${this.#outstanding} publishes are already waiting`, {
          details: { maxBufferedPublishes: this.#host.maxBuffered },
        }),
      );
    }
    this.#outstanding++;
    return new Promise<T>((resolve, reject) => {
      const pending = new Pending(
        this.#hooks,
        message,
        timeoutMs,
        signal,
        value,
        resolve as (value: unknown) => void,
        reject,
      );
      pending.deadline = this.#deadlines.add(timeoutMs, pending);
      if (signal) {
        pending.onAbort = () => pending.finish(abortError(signal));
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      const head = this.#accepted;
      if (head) {
        head.prev = pending;
        pending.next = head;
      }
      this.#accepted = pending;
      if (this.#tracker && !this.#tracker.closed && !this.#waitingDrain && this.#queue.length === 0) {
        this.#write(this.#tracker, pending);
      } else {
        this.#queue.push(pending);
        this.#ensureChannel();
      }
    });
  }

  /** The connection is (re)open: get a channel and flush the buffer. Resolves once the attempt is over. */
  async attach(): Promise<void> {
    this.#reopen.reset();
    this.#ensureChannel();
    await this.#opening;
  }

  /**
   * Waits until every accepted publish has settled, at most `timeoutMs`; then rejects the rest with
   * `DSP_TASKS_CLOSED` and closes the channel. Idempotent (same promise); a later call with `timeoutMs` 0
   * (destroy) ends the wait at once.
   */
  close(timeoutMs: number): Promise<void> {
    if (this.#closePromise) {
      if (timeoutMs <= 0) this.#stopWaiting?.();
      return this.#closePromise;
    }
    this.#closePromise = this.#close(timeoutMs);
    return this.#closePromise;
  }

  async #close(timeoutMs: number): Promise<void> {
    this.#closing = true;
    this.#reopen.cancel();
    // Without an open channel nothing buffered can go out any more (none is opened from now on).
    if (!this.connected) this.#rejectQueued();
    if (this.#outstanding > 0 && timeoutMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#idle.add(resolve);
        this.#stopWaiting = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.#stopWaiting = undefined;
    }
    // Whatever is still unconfirmed (in flight, buffered, waiting for drain) settles now, timers cleared.
    const closedError = closedPublishError();
    this.#queue.length = 0;
    const accepted: Pending[] = [];
    for (let pending = this.#accepted; pending; pending = pending.next) accepted.push(pending);
    // Oldest first, as they were accepted.
    for (let i = accepted.length - 1; i >= 0; i--) accepted[i]?.finish(closedError);
    const tracker = this.#tracker;
    this.#tracker = undefined;
    if (tracker && !tracker.closed) {
      // Bounded: a broker that stopped answering must not hold up the rest of the shutdown (the
      // connection's close cuts the socket after its own grace).
      const closing = tracker.channel.close().catch((err: unknown) => {
        this.#host.log.debug({ err }, 'publisher channel close failed');
      });
      await settleWithin(closing, CHANNEL_CLOSE_GRACE_MS);
    }
  }

  /** Rejects the publishes waiting for a channel (closing). */
  #rejectQueued(): void {
    const closedError = closedPublishError();
    for (const pending of this.#queue.splice(0)) pending.finish(closedError);
  }

  #write(tracker: ConfirmTracker, pending: Pending): void {
    const { message } = pending;
    if (message.delay) {
      void this.#writeDelayed(tracker, pending, message.delay);
      return;
    }
    // `options` carry mandatory and a messageId already (see Server#prepare): passed on without copying.
    const writable = tracker.send(
      message.exchange,
      message.routingKey,
      message.content,
      message.options,
      pending,
    );
    if (!writable && !tracker.closed) this.#awaitDrain(tracker);
  }

  async #writeDelayed(tracker: ConfirmTracker, pending: Pending, delay: { ms: number; target: DelayTarget }) {
    try {
      const { queue } = await this.#delayQueues.bucket(tracker.channel, delay.target, delay.ms);
      const options = { ...pending.message.options, mandatory: true };
      const writable = tracker.send('', queue, pending.message.content, options, pending);
      if (!writable && !tracker.closed) this.#awaitDrain(tracker);
    } catch (err) {
      this.#onConfirm(pending, toBrokerError(err, 'channel'));
    }
  }

  #onConfirm(pending: Pending, err: Error | undefined): void {
    if (pending.settled) return;
    if (!err) {
      pending.finish();
      return;
    }
    const lost = TasksError.hasCode(err, 'DSP_TASKS_CHANNEL_LOST') || isChannelClosing(err);
    if (lost && this.#closing) {
      // No next channel during close(): settle now rather than wait for a resend that never comes.
      pending.finish(closedPublishError());
      return;
    }
    if (lost) {
      // Unknown fate: send again on the next channel rather than lose it.
      this.#queue.unshift(pending);
      this.#ensureChannel();
      return;
    }
    pending.finish(err);
  }

  #awaitDrain(tracker: ConfirmTracker): void {
    if (this.#waitingDrain) return;
    this.#waitingDrain = true;
    const resume = () => {
      this.#waitingDrain = false;
      tracker.channel.off('drain', resume);
      tracker.channel.off('close', resume);
      this.#flush();
    };
    tracker.channel.once('drain', resume);
    tracker.channel.once('close', resume);
  }

  #flush(): void {
    while (this.#queue.length > 0) {
      const tracker = this.#tracker;
      if (!tracker || tracker.closed || this.#waitingDrain) return;
      const pending = this.#queue.shift();
      if (pending && !pending.settled) this.#write(tracker, pending);
    }
  }

  #ensureChannel(): void {
    if (this.#tracker && !this.#tracker.closed) {
      this.#flush();
      return;
    }
    if (this.#closing) {
      this.#rejectQueued();
      return;
    }
    if (this.#opening || this.#reopen.pending) return;
    const model = this.#host.model();
    if (!model) return;
    this.#opening = this.#open(model).finally(() => {
      this.#opening = undefined;
    });
  }

  async #open(model: ChannelModel): Promise<void> {
    let channel: Channel | undefined;
    try {
      const confirmChannel = await model.createConfirmChannel();
      channel = confirmChannel;
      confirmChannel.on('error', (err: Error) =>
        this.#host.reporter.problem('publisher', toBrokerError(err, 'channel')),
      );
      await this.#host.prepare(confirmChannel);
      if (this.#closing) {
        await confirmChannel.close();
        return;
      }
      const tracker = new ConfirmTracker(confirmChannel);
      confirmChannel.on('close', () => this.#onChannelClosed(tracker));
      this.#tracker = tracker;
      this.#delayQueues = new DelayQueues();
      this.#reopen.succeeded();
      this.#host.log.debug('publisher channel open');
      this.#flush();
    } catch (err) {
      this.#host.reporter.problem('publisher', toBrokerError(err, 'channel'));
      if (channel) await channel.close().catch(() => undefined);
      this.#scheduleReopen();
    }
  }

  #onChannelClosed(tracker: ConfirmTracker): void {
    if (this.#tracker !== tracker) return;
    this.#tracker = undefined;
    this.#waitingDrain = false;
    if (this.#closing) this.#rejectQueued();
    else this.#scheduleReopen();
  }

  #scheduleReopen(): void {
    if (!this.#closing) this.#reopen.schedule();
  }
}

function closedPublishError(): TasksError {
  return new TasksError('DSP_TASKS_CLOSED', 'the server closed before this publish was confirmed');
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return reason;
  return new TasksError('DSP_TASKS_ABORTED', 'the publish was aborted', { cause: reason });
}

/** amqplib throws IllegalOperationError for work on a closing channel. */
function isChannelClosing(err: unknown): boolean {
  return err instanceof Error && err.name === 'IllegalOperationError';
}
