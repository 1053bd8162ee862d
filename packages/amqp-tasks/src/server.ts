import {
  exponentialBackoff,
  Lifecycle,
  type Logger,
  noopLogger,
  runCloseSteps,
  type StartOptions,
} from '@dispatcher/core';
import type { Channel, ChannelModel, Options, SocketOptions } from 'amqplib';
import type { z } from 'zod';
import { jsonCodec } from './codec/json-codec.js';
import type { TaskCodec } from './codec/task-codec.js';
import { ConnectionManager, type ConnectionState } from './connection/connection-manager.js';
import { SOCKET_WRITE_BUFFER_BYTES } from './connection/cork.js';
import type { ResultOf, TaskDefinition } from './define-task.js';
import { MAX_DELAY_MS, MIN_DELAY_MS } from './delay-queues.js';
import { TasksError } from './errors.js';
import { type OutgoingMessage, Publisher } from './publisher/publisher.js';
import { RpcClient } from './rpc-client.js';
import { DEFAULT_SERVER_OPTIONS, type ServerOptions } from './server-options.js';
import { resolveTask, type Task } from './task.js';
import type { AnyTaskConfig } from './task-config.js';
import {
  createReporter,
  type Reporter,
  type TasksEventListener,
  type TasksEventName,
  TasksEvents,
} from './task-events.js';
import { TaskHeaders } from './task-headers.js';
import { declareExchange, declareQueue, type QueueSpec } from './topology.js';
import { Worker, type WorkerStats } from './worker/worker.js';
import type { WorkerOptions } from './worker-options.js';

/** Per-publish options. */
export interface PublishOptions {
  /** Cancels waiting (for a connection or the confirm); the message may already be on its way. */
  signal?: AbortSignal;
  /**
   * Time until the broker confirms, waiting for a connection included, in milliseconds.
   * @defaultValue the server's `publishTimeoutMs` (`30_000`)
   */
  timeoutMs?: number;
  /**
   * Run no earlier than this many milliseconds from now (a delayed task); at most `MAX_DELAY_MS`
   * (2^32-1, about 49.7 days), else the publish rejects with `DSP_TASKS_INVALID_ARGUMENT`.
   */
  delayMs?: number;
  /** Run no earlier than this time (a `Date` or epoch milliseconds); at most `MAX_DELAY_MS` from now. */
  runAt?: Date | number;
  /** Message priority (0–255); only queues declared with `maxPriority` honour it. */
  priority?: number;
  /**
   * Persistent delivery mode (survives a broker restart in durable queues).
   * @defaultValue `true`
   */
  persistent?: boolean;
}

/** Task fields that publishing by name takes in its options. */
export interface NamedPublishOptions extends PublishOptions {
  uuid?: string;
  routingKey?: string;
  headers?: Record<string, unknown>;
}

/** Options of `call()`. */
export interface CallOptions extends NamedPublishOptions {
  /**
   * Time to wait for the result, in milliseconds.
   * @defaultValue `30_000`
   */
  timeoutMs?: number;
}

type Defs = readonly TaskDefinition[];
/** Names of the tasks in a server's `tasks` option (any string when it has none). */
export type TaskName<D extends Defs> = D[number]['name'];
type DefinitionOf<D extends Defs, N> = Extract<D[number], { name: N }>;
/** What publishing task `N` takes as args: the schema's input. */
export type TaskArgs<D extends Defs, N> =
  DefinitionOf<D, N> extends TaskDefinition<string, infer S, infer _R> ? z.input<S> : unknown;
/** What calling task `N` resolves to: the result schema's output, else `unknown`. */
export type TaskResult<D extends Defs, N> =
  DefinitionOf<D, N> extends TaskDefinition<string, infer _S, infer R> ? ResultOf<R> : unknown;

/** Counters of the whole server. */
export interface ServerStats {
  /** Publishes accepted and not yet confirmed (buffered or in flight). */
  publishesOutstanding: number;
  workers: Record<string, WorkerStats>;
}

/**
 * The server owns one AMQP connection, keeps it up, and hosts the publisher, the workers and `call()`.
 *
 * @example
 * ```ts
 * const server = new Server({ url, exchange: 'dispatcher', defaultRoutingKey: 'tasks',
 *   queues: [{ name: 'tasks', bindingKeys: ['tasks'] }] });
 * await server.start();
 * await server.publish({ name: 'task_1', args: ['simple string', 1] });
 * ```
 */
export class Server<D extends Defs = Defs> extends Lifecycle {
  readonly exchange: string;
  readonly defaultRoutingKey: string;
  readonly #events: TasksEvents;
  readonly #reporter: Reporter;
  readonly #options: ServerOptions<D>;
  /** The caller's logger, without the server's `component` binding. */
  readonly #baseLog: Logger;
  readonly #codec: TaskCodec;
  readonly #definitions = new Map<string, TaskDefinition>();
  readonly #queues: readonly QueueSpec[];
  readonly #connection: ConnectionManager;
  readonly #publisher: Publisher;
  readonly #rpc: RpcClient;
  readonly #workers = new Map<string, Worker>();
  #model: ChannelModel | undefined;
  #closeTimeoutMs: number;

  constructor(options: ServerOptions<D>) {
    // Components get their `component` child from the caller's logger, never from `log` (pino would write
    // the key twice); problems are logged on it too, with the component that saw them.
    const base = options?.logger ?? noopLogger;
    const log = base.child({ component: 'amqp-tasks' });
    super(log);
    this.#baseLog = base;
    validateServerOptions(options);
    this.#options = options;
    this.exchange = options.exchange;
    this.defaultRoutingKey = options.defaultRoutingKey;
    this.#events = new TasksEvents(log);
    this.#reporter = createReporter(log, this.#events, base);
    this.#codec = options.codec ?? jsonCodec;
    this.#queues = options.queues ?? DEFAULT_SERVER_OPTIONS.queues;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_SERVER_OPTIONS.closeTimeoutMs;
    for (const definition of options.tasks ?? []) this.#definitions.set(definition.name, definition);

    const reconnect = { ...DEFAULT_SERVER_OPTIONS.reconnect, ...options.reconnect };
    // Every fresh publishing channel re-declares the topology: after a 404 (exchange deleted under us)
    // the next channel brings the exchange and its bindings back before sending again.
    const prepare = (channel: Channel) => this.#declareTopology(channel);
    this.#connection = new ConnectionManager({
      url: withHeartbeat(options.url, options.heartbeatSeconds ?? DEFAULT_SERVER_OPTIONS.heartbeatSeconds),
      socketOptions: this.#socketOptions(),
      retries: reconnect.retries === 'forever' ? Number.POSITIVE_INFINITY : reconnect.retries,
      backoff: exponentialBackoff({
        baseMs: reconnect.intervalMs,
        capMs: Math.max(reconnect.intervalMs, reconnect.maxIntervalMs),
        jitter: 'equal',
        maxAttempts: Number.POSITIVE_INFINITY,
      }),
      log: base.child({ component: 'connection' }),
      setup: (model, generation) => this.#setup(model, generation),
      onLost: (generation, error) => {
        this.#model = undefined;
        this.#events.emit('disconnected', { generation, ...(error ? { error } : {}) });
      },
      onProblem: (error, details) => this.#reporter.problem('connection', error, details),
      onGiveUp: (error) => {
        this.#reporter.problem('connection', error);
        if (this.state === 'running') this.destroy(error);
      },
    });
    const host = {
      reporter: this.#reporter,
      log: base.child({ component: 'publisher' }),
      model: () => this.#model,
      prepare,
      maxBuffered: options.maxBufferedPublishes ?? DEFAULT_SERVER_OPTIONS.maxBufferedPublishes,
    };
    this.#publisher = new Publisher(host);
    this.#rpc = new RpcClient({
      reporter: this.#reporter,
      model: () => this.#model,
      waitOpen: (signal) => this.#connection.waitOpen(signal),
      prepare,
    });
  }

  get #exchangeType() {
    return this.#options.exchangeType ?? DEFAULT_SERVER_OPTIONS.exchangeType;
  }

  /** Subscribes to an event (see `TasksEventMap`); returns the unsubscribe function. */
  on<E extends TasksEventName>(event: E, listener: TasksEventListener<E>): () => void {
    return this.#events.on(event, listener);
  }

  off<E extends TasksEventName>(event: E, listener: TasksEventListener<E>): void {
    this.#events.off(event, listener);
  }

  /** Where the connection's state machine is (`idle`, `connecting`, `open`, `backoff`, `closing`, `closed`). */
  get connectionState(): ConnectionState['kind'] {
    return this.#connection.state.kind;
  }

  /** True while the connection is open. */
  get connected(): boolean {
    return this.#model !== undefined;
  }

  /**
   * Connects (with retries), declares the exchange and `queues`, and resolves once ready. Rejects with
   * `DSP_TASKS_CONNECT_FAILED` after `startTimeoutMs` or when retries run out; `signal` cancels.
   */
  override start(options: StartOptions = {}): Promise<void> {
    return super.start(options);
  }

  /**
   * Graceful quit: cancels consumers, waits for running tasks (at most `timeoutMs`), aborts the laggards and
   * leaves them for redelivery, settles pending confirms, then closes the connection. Idempotent.
   */
  override close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (options.timeoutMs !== undefined) this.#closeTimeoutMs = options.timeoutMs;
    return super.close();
  }

  /** Creates a worker (the Go `NewWorker`); it consumes once `start()` is called. */
  newWorker(options: WorkerOptions, tasks: Readonly<Record<string, AnyTaskConfig>>): Worker {
    if (this.state === 'closing' || this.state === 'closed') throw this.closedError();
    if (this.#workers.has(options?.name)) {
      throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', `a worker named ${options.name} exists already`);
    }
    const worker = new Worker(
      {
        // Every worker log line names its worker already, so only the component is bound.
        reporter: createReporter(this.#baseLog.child({ component: 'worker' }), this.#events, this.#baseLog),
        exchange: this.exchange,
        debug: this.#options.debug ?? DEFAULT_SERVER_OPTIONS.debug,
        propagation: this.#options.propagation,
        model: () => this.#model,
        queueSpec: (name) => this.#queues.find((queue) => queue.name === name),
      },
      options,
      tasks,
    );
    this.#workers.set(worker.name, worker);
    return worker;
  }

  /** Publishes a task (Go style) and resolves with its uuid once the broker confirms it. */
  publish(task: Task, options?: PublishOptions): Promise<string>;
  /** Publishes a defined task by name; `args` are type-checked and validated against its schema. */
  publish<N extends TaskName<D>>(
    name: N,
    args: TaskArgs<D, N>,
    options?: NamedPublishOptions,
  ): Promise<string>;
  publish(
    taskOrName: Task | string,
    argsOrOptions?: unknown,
    maybeOptions?: NamedPublishOptions,
  ): Promise<string> {
    // Not async: one promise per publish instead of two (this is the hot path). Errors still reject.
    // No intermediate objects either: the task, its options and the message are all that is made here.
    let message: OutgoingMessage;
    let options: PublishOptions;
    try {
      options = optionsOf(taskOrName, argsOrOptions, maybeOptions);
      const task = taskOf(taskOrName, argsOrOptions, options);
      this.#assertOpen();
      message = this.#prepare(task, options);
      if (this.#options.debug) this.log.debug({ uuid: message.uuid, name: task.name }, 'publishing');
    } catch (err) {
      return Promise.reject(err);
    }
    const timeoutMs =
      options.timeoutMs ?? this.#options.publishTimeoutMs ?? DEFAULT_SERVER_OPTIONS.publishTimeoutMs;
    return this.#publisher.send(message, timeoutMs, options.signal, message.uuid);
  }

  /**
   * Publishes a task and waits for its result through direct reply-to. Rejects with `DSP_TASKS_TASK_FAILED`
   * when the task is dead-lettered, `DSP_TASKS_CALL_TIMEOUT` after `timeoutMs`.
   */
  call(task: Task, options?: CallOptions): Promise<unknown>;
  call<N extends TaskName<D>>(
    name: N,
    args: TaskArgs<D, N>,
    options?: CallOptions,
  ): Promise<TaskResult<D, N>>;
  async call(
    taskOrName: Task | string,
    argsOrOptions?: unknown,
    maybeOptions?: CallOptions,
  ): Promise<unknown> {
    const options: CallOptions = optionsOf(taskOrName, argsOrOptions, maybeOptions);
    const task = taskOf(taskOrName, argsOrOptions, options);
    this.#assertOpen();
    if (options.delayMs !== undefined || options.runAt !== undefined) {
      throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'call() does not take delayMs or runAt');
    }
    const message = this.#prepare(task, options);
    const result = this.#definitions.get(task.name)?.result;
    return this.#rpc.call(message.exchange, message.routingKey, message.content, message.options, {
      timeoutMs: options.timeoutMs ?? 30_000,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(result ? { result } : {}),
    });
  }

  /** Counters of the publisher and every worker. */
  stats(): ServerStats {
    const workers: Record<string, WorkerStats> = {};
    for (const [name, worker] of this.#workers) workers[name] = worker.stats();
    return { publishesOutstanding: this.#publisher.outstanding, workers };
  }

  protected async onStart(options: StartOptions): Promise<void> {
    const startTimeoutMs = this.#options.startTimeoutMs ?? DEFAULT_SERVER_OPTIONS.startTimeoutMs;
    const timeout = AbortSignal.timeout(startTimeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    this.#connection.start();
    try {
      await this.#connection.waitOpen(signal);
    } catch (err) {
      if (options.signal?.aborted) {
        throw new TasksError('DSP_TASKS_ABORTED', 'start() was aborted', { cause: options.signal.reason });
      }
      if (timeout.aborted) {
        throw new TasksError('DSP_TASKS_CONNECT_FAILED', `no connection within ${startTimeoutMs} ms`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  protected async onClose(): Promise<void> {
    const deadline = Date.now() + this.#closeTimeoutMs;
    const remaining = () => Math.max(0, deadline - Date.now());
    await runCloseSteps(this.log, [
      ['workers', () => Promise.all([...this.#workers.values()].map((worker) => worker.close(remaining())))],
      ['rpc', () => this.#rpc.close()],
      ['publisher', () => this.#publisher.close(remaining())],
      ['connection', () => this.#connection.close()],
    ]);
  }

  protected onDestroy(err?: Error): void {
    if (err) this.log.error({ err }, 'server destroyed');
    for (const worker of this.#workers.values()) worker.destroy(err);
    void this.#rpc.close();
    void this.#publisher.close(0);
    this.#connection.destroy();
  }

  async #setup(model: ChannelModel, generation: number): Promise<void> {
    const channel = await model.createChannel();
    channel.on('error', () => {
      // The failing declaration rejects too; that rejection is what gets reported.
    });
    await this.#declareTopology(channel);
    await channel.close();
    this.#model = model;
    this.#events.emit('connected', { generation });
    // Ready to publish directly once start() resolves (a failure is reported and retried on its own).
    await this.#publisher.attach();
    for (const worker of this.#workers.values()) worker.attach();
  }

  async #declareTopology(channel: Channel): Promise<void> {
    await declareExchange(channel, this.exchange, this.#exchangeType);
    for (const queue of this.#queues) await declareQueue(channel, this.exchange, queue);
  }

  #assertOpen(): void {
    if (this.state === 'new' || this.state === 'closing' || this.state === 'closed') throw this.closedError();
  }

  /** Every call on a server that is not running (incl. a second `start()`) says `DSP_TASKS_CLOSED`. */
  protected override closedError(): TasksError {
    return new TasksError(
      'DSP_TASKS_CLOSED',
      `the server is ${this.state === 'new' ? 'not started' : this.state}`,
    );
  }

  #prepare(task: Task, options: PublishOptions): OutgoingMessage {
    const resolved = resolveTask(task, this.defaultRoutingKey);
    const definition = this.#definitions.get(resolved.name);
    if (definition) {
      const parsed = definition.schema.safeParse(resolved.args);
      if (!parsed.success) {
        throw new TasksError(
          'DSP_TASKS_VALIDATION',
          `task ${resolved.name}: invalid args: ${parsed.error.message}`,
          {
            cause: parsed.error,
          },
        );
      }
    }
    const headers = resolved.headers;
    this.#options.propagation?.inject(headers);
    const runAt = options.runAt instanceof Date ? options.runAt.getTime() : options.runAt;
    // +1: the broker's millisecond clock and ours truncate differently, so a TTL computed to the
    // millisecond can end up to 1 ms before runAt; "no earlier than asked" needs the margin.
    const delayMs = runAt !== undefined ? runAt - Date.now() + 1 : options.delayMs;
    if (delayMs !== undefined && !Number.isFinite(delayMs)) {
      throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'delayMs/runAt must be a finite number');
    }
    if (delayMs !== undefined && delayMs > MAX_DELAY_MS) {
      throw new TasksError(
        'DSP_TASKS_INVALID_ARGUMENT',
        `delayMs/runAt is ${Math.round(delayMs)} ms away; at most ${MAX_DELAY_MS} ms (about 49.7 days) is supported`,
        { details: { delayMs, maxDelayMs: MAX_DELAY_MS } },
      );
    }
    // Any delay is written down, even one too short for a bucket: the worker holds such a task until then.
    if (delayMs !== undefined && delayMs > 0) headers[TaskHeaders.notBefore] = Date.now() + delayMs;
    const publishOptions: Options.Publish = {
      contentType: this.#codec.contentType,
      persistent: options.persistent ?? true,
      messageId: resolved.uuid,
      mandatory: true,
      timestamp: Math.floor(Date.now() / 1000),
    };
    // No empty table on the wire: one less field for amqplib to encode and the broker to parse per task.
    if (hasAnyKey(headers)) publishOptions.headers = headers;
    if (options.priority !== undefined) {
      if (!Number.isInteger(options.priority) || options.priority < 0 || options.priority > 255) {
        throw new TasksError(
          'DSP_TASKS_INVALID_ARGUMENT',
          `priority must be 0..255; got ${options.priority}`,
        );
      }
      publishOptions.priority = options.priority;
    }
    let content: Buffer;
    try {
      content = this.#codec.encode({ uuid: resolved.uuid, name: resolved.name, args: resolved.args });
    } catch (err) {
      // A BigInt or a cycle in args: the caller's mistake, reported with a code like every other one.
      throw new TasksError(
        'DSP_TASKS_ENCODE',
        `task ${resolved.name} cannot be encoded: ${(err as Error).message}`,
        {
          cause: err,
          details: { name: resolved.name, uuid: resolved.uuid },
        },
      );
    }
    const message: OutgoingMessage = {
      uuid: resolved.uuid,
      exchange: this.exchange,
      routingKey: resolved.routingKey,
      content,
      options: publishOptions,
    };
    if (delayMs !== undefined && delayMs >= MIN_DELAY_MS) {
      message.delay = {
        ms: delayMs,
        target: {
          exchange: this.exchange,
          routingKey: resolved.routingKey,
          prefix: `${this.exchange}.${resolved.routingKey}`,
        },
      };
    }
    return message;
  }

  #socketOptions(): SocketOptions {
    const options = this.#options;
    const tls = options.tls;
    const socket: SocketOptions & { writableHighWaterMark?: number } = {
      timeout: options.connectTimeoutMs ?? DEFAULT_SERVER_OPTIONS.connectTimeoutMs,
      // Room for a corked burst of frames (see cork.ts); passed on to net/tls.connect by amqplib.
      writableHighWaterMark: SOCKET_WRITE_BUFFER_BYTES,
      clientProperties: {
        ...(options.connectionName ? { connection_name: options.connectionName } : {}),
        product: '@dispatcher/amqp-tasks',
      },
    };
    if (tls) {
      // Verification stays on unless explicitly turned off.
      socket.rejectUnauthorized = tls.insecure !== true;
      if (tls.ca !== undefined) socket.ca = tls.ca;
      if (tls.cert !== undefined) socket.cert = tls.cert;
      if (tls.key !== undefined) socket.key = tls.key;
      if (tls.passphrase !== undefined) socket.passphrase = tls.passphrase;
      if (tls.servername !== undefined) socket.servername = tls.servername;
    }
    return socket;
  }
}

function hasAnyKey(record: Record<string, unknown>): boolean {
  for (const _ in record) return true;
  return false;
}

/** Options of a publish or call when none are given (read only, never written). */
const NO_OPTIONS: NamedPublishOptions = Object.freeze({});

/** The options of `publish(task, options?)` or `publish(name, args, options?)`. */
function optionsOf(
  taskOrName: Task | string,
  argsOrOptions: unknown,
  maybeOptions: NamedPublishOptions | undefined,
): NamedPublishOptions {
  if (typeof taskOrName === 'string') return maybeOptions ?? NO_OPTIONS;
  return (argsOrOptions as PublishOptions | undefined) ?? NO_OPTIONS;
}

/** The task of `publish(task, options?)`, or the one `publish(name, args, options)` describes. */
function taskOf(taskOrName: Task | string, argsOrOptions: unknown, options: NamedPublishOptions): Task {
  if (typeof taskOrName !== 'string') return taskOrName;
  const task: Task = { name: taskOrName, args: argsOrOptions };
  if (options.uuid !== undefined) task.uuid = options.uuid;
  if (options.routingKey !== undefined) task.routingKey = options.routingKey;
  if (options.headers !== undefined) task.headers = options.headers;
  return task;
}

/** amqplib reads the heartbeat from the URL; an explicit `?heartbeat=` there wins. */
function withHeartbeat(url: string, seconds: number): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(seconds));
  return parsed.toString();
}

function validateServerOptions(options: ServerOptions<Defs>): void {
  if (typeof options !== 'object' || options === null) {
    throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'options are required');
  }
  if (typeof options.url !== 'string' || !/^amqps?:\/\//.test(options.url)) {
    throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'url must be an amqp:// or amqps:// URL');
  }
  if (options.tls !== undefined && !options.url.startsWith('amqps://')) {
    // amqplib uses TLS only for amqps:// and would ignore these options: a silent plaintext connection.
    // The Go library's README does not say it switched schemes for a TLS config, so refuse rather than guess.
    throw new TasksError(
      'DSP_TASKS_INVALID_ARGUMENT',
      'tls options need an amqps:// URL; with amqp:// the connection would not be encrypted',
    );
  }
  if (typeof options.exchange !== 'string' || options.exchange === '') {
    throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'exchange is required');
  }
  if (typeof options.defaultRoutingKey !== 'string' || options.defaultRoutingKey === '') {
    throw new TasksError('DSP_TASKS_INVALID_ARGUMENT', 'defaultRoutingKey is required');
  }
  const retries = options.reconnect?.retries;
  if (retries !== undefined && retries !== 'forever' && !(Number.isInteger(retries) && retries >= 0)) {
    throw new TasksError(
      'DSP_TASKS_INVALID_ARGUMENT',
      `reconnect.retries must be >= 0 or 'forever'; got ${retries}`,
    );
  }
}
