/**
 * Owns the one AMQP connection of a server and keeps it up.
 *
 *            start()                 socket + setup ok
 *   idle ──────────────▶ connecting ───────────────────▶ open
 *                          │    ▲                          │ connection lost
 *             attempt fails│    │ timer                    ▼ (failures reset)
 *                          └──▶ backoff ◀──────────────────┘
 *                                 │ more than `retries` consecutive failures
 *                                 ▼
 *   (any) ──close()──▶ closing ──▶ closed ◀── gave up
 *
 * `connecting` covers the socket, the AMQP handshake and the owner's `setup` (topology, channels); a
 * setup failure closes that connection and counts as a failed attempt. Delays come from a core
 * `RetryPolicy` (exponential backoff with jitter).
 */
import { type Logger, type RetryPolicy, throwIfAborted } from '@dispatcher/core';
import { type ChannelModel, connect, type Options, type SocketOptions } from 'amqplib';
import { TasksError } from '../errors.js';
import { toBrokerError } from './broker-error.js';
import { corkMuxerWrites } from './cork.js';

export type ConnectionState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'connecting'; readonly attempt: number; model?: ChannelModel; generation?: number }
  | { readonly kind: 'open'; readonly model: ChannelModel; readonly generation: number }
  | { readonly kind: 'backoff'; readonly attempt: number; readonly timer: NodeJS.Timeout }
  | { readonly kind: 'closing' }
  | { readonly kind: 'closed'; readonly error?: Error };

export interface ConnectionManagerOptions {
  readonly url: string | Options.Connect;
  readonly socketOptions: SocketOptions;
  /** Consecutive failed attempts tolerated before giving up; `Infinity` retries forever. */
  readonly retries: number;
  readonly backoff: RetryPolicy;
  readonly log: Logger;
  /** Declares topology and attaches channels; a throw fails the attempt. */
  readonly setup: (model: ChannelModel, generation: number) => Promise<void>;
  /** The open connection `generation` died (not called for close()). */
  readonly onLost: (generation: number, error: Error | undefined) => void;
  /** Every connection-level problem (reported, never thrown). */
  readonly onProblem: (error: Error, details: Record<string, unknown>) => void;
  /** Retries are exhausted; the manager is closed. */
  readonly onGiveUp: (error: Error) => void;
}

interface OpenWaiter {
  resolve(): void;
  reject(err: Error): void;
}

export class ConnectionManager {
  #state: ConnectionState = { kind: 'idle' };
  #generation = 0;
  #firstFailureAt = 0;
  readonly #waiters = new Set<OpenWaiter>();
  readonly #options: ConnectionManagerOptions;

  constructor(options: ConnectionManagerOptions) {
    this.#options = options;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The open connection, if any. */
  get model(): ChannelModel | undefined {
    return this.#state.kind === 'open' ? this.#state.model : undefined;
  }

  start(): void {
    if (this.#state.kind !== 'idle') return;
    void this.#attempt(1);
  }

  /** Resolves once the connection is open (now or later); rejects when it gives up, closes or `signal` fires. */
  waitOpen(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    switch (this.#state.kind) {
      case 'open':
        return Promise.resolve();
      case 'closing':
      case 'closed': {
        const cause = this.#state.kind === 'closed' ? this.#state.error : undefined;
        return Promise.reject(
          cause ?? new TasksError('DSP_TASKS_CLOSED', 'the connection is closed', { cause }),
        );
      }
      case 'idle':
      case 'connecting':
      case 'backoff':
        break;
      default:
        return assertNever(this.#state);
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(
          signal?.reason instanceof Error ? signal.reason : new TasksError('DSP_TASKS_ABORTED', 'aborted'),
        );
      };
      const waiter: OpenWaiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Closes the connection (the owner has closed its channels first). Idempotent. */
  async close(): Promise<void> {
    const state = this.#state;
    switch (state.kind) {
      case 'closing':
      case 'closed':
        return;
      case 'backoff':
        clearTimeout(state.timer);
        break;
      case 'idle':
      case 'connecting':
      case 'open':
        break;
      default:
        assertNever(state);
    }
    this.#state = { kind: 'closing' };
    this.#rejectWaiters(new TasksError('DSP_TASKS_CLOSED', 'the connection was closed'));
    const model = state.kind === 'open' ? state.model : state.kind === 'connecting' ? state.model : undefined;
    if (model) await closeQuietly(model);
    this.#state = { kind: 'closed' };
  }

  /** Drops the connection at once (destroy). */
  destroy(): void {
    void this.close();
  }

  async #attempt(attempt: number): Promise<void> {
    this.#state = { kind: 'connecting', attempt };
    const { log } = this.#options;
    log.debug({ attempt }, 'connecting');
    let model: ChannelModel | undefined;
    try {
      model = await connect(this.#options.url, this.#options.socketOptions);
      if (!this.#isConnecting(attempt)) {
        // close() came while the socket was opening.
        await closeQuietly(model);
        return;
      }
      const generation = ++this.#generation;
      corkMuxerWrites(model);
      this.#watch(model, generation);
      this.#state = { kind: 'connecting', attempt, model, generation };
      await this.#options.setup(model, generation);
      const current = this.#state;
      if (current.kind !== 'connecting' || current.model !== model) return;
      this.#state = { kind: 'open', model, generation };
      this.#firstFailureAt = 0;
      log.info({ generation }, 'connected');
      for (const waiter of [...this.#waiters]) waiter.resolve();
      this.#waiters.clear();
    } catch (err) {
      const error = toBrokerError(err, 'connection');
      const current = this.#state;
      // A lost connection during setup has already scheduled the next attempt (see #watch).
      if (
        current.kind !== 'connecting' ||
        current.attempt !== attempt ||
        (model && current.model !== model)
      ) {
        return;
      }
      if (model) await closeQuietly(model);
      this.#options.onProblem(error, { attempt });
      this.#scheduleRetry(attempt, error);
    }
  }

  #isConnecting(attempt: number): boolean {
    return this.#state.kind === 'connecting' && this.#state.attempt === attempt;
  }

  #watch(model: ChannelModel, generation: number): void {
    // Without an 'error' listener amqplib's emit would throw and crash the process.
    model.on('error', (err: Error) => {
      this.#options.onProblem(toBrokerError(err, 'connection'), { generation });
    });
    model.on('blocked', (reason: string) =>
      this.#options.log.warn({ reason }, 'connection blocked by broker'),
    );
    model.on('unblocked', () => this.#options.log.info('connection unblocked'));
    model.once('close', (err?: Error) => {
      const state = this.#state;
      switch (state.kind) {
        case 'open':
          if (state.model !== model) return;
          // A broker-initiated close that amqplib deems non-fatal (320 CONNECTION_FORCED) comes only here.
          this.#options.onProblem(toBrokerError(err ?? new Error('connection lost'), 'connection'), {
            generation,
          });
          this.#options.onLost(generation, err);
          this.#firstFailureAt = Date.now();
          this.#scheduleRetry(0, err ?? new Error('connection closed'));
          return;
        case 'connecting':
          if (state.model !== model) return;
          this.#options.onLost(generation, err);
          this.#scheduleRetry(state.attempt, err ?? new Error('connection closed during setup'));
          return;
        case 'idle':
        case 'backoff':
        case 'closing':
        case 'closed':
          return;
        default:
          assertNever(state);
      }
    });
  }

  /** `failed` consecutive attempts have failed (0 right after losing an open connection). */
  #scheduleRetry(failed: number, error: Error): void {
    if (failed > this.#options.retries) {
      this.#state = { kind: 'closed', error };
      const giveUp = new TasksError(
        'DSP_TASKS_CONNECT_FAILED',
        `could not connect after ${failed} attempts: ${error.message}`,
        { cause: error },
      );
      this.#rejectWaiters(giveUp);
      this.#options.onGiveUp(giveUp);
      return;
    }
    const now = Date.now();
    if (this.#firstFailureAt === 0) this.#firstFailureAt = now;
    const decision = this.#options.backoff.next({
      attempt: Math.max(1, failed),
      firstAttemptAt: this.#firstFailureAt,
      now,
    });
    const delayMs = decision.action === 'retry' ? decision.delayMs : 0;
    this.#options.log.debug({ attempt: failed + 1, delayMs }, 'reconnect scheduled');
    const timer = setTimeout(() => {
      void this.#attempt(failed + 1);
    }, delayMs);
    this.#state = { kind: 'backoff', attempt: failed + 1, timer };
  }

  #rejectWaiters(err: Error): void {
    for (const waiter of [...this.#waiters]) waiter.reject(err);
    this.#waiters.clear();
  }
}

/** How long a polite connection.close may take before the socket is cut. */
const CLOSE_GRACE_MS = 2_000;

async function closeQuietly(model: ChannelModel): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = model.close().then(
    () => true,
    // Already closed or the socket died: nothing left to release.
    () => true,
  );
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), CLOSE_GRACE_MS);
  });
  const closed = await Promise.race([graceful, expired]);
  clearTimeout(timer);
  // A broker that stopped answering would leave close() pending forever: cut the socket instead.
  if (!closed) (model.connection as { stream?: { destroy(): void } }).stream?.destroy();
}

function assertNever(value: never): never {
  throw new Error(`unexpected state ${JSON.stringify(value)}`);
}
