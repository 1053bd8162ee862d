import type { Logger } from '@dispatcher/core';
import type { TaskCodec } from './codec/task-codec.js';
import type { TaskDefinition } from './define-task.js';
import type { ExchangeType, QueueSpec } from './topology.js';

/** Reconnection policy (the Go library's `ReconnectionRetries` / `ReconnectionIntervalSeconds`). */
export interface ReconnectOptions {
  /**
   * Consecutive failed attempts tolerated before the server gives up and closes; `'forever'` never gives up.
   * Also bounds start-up, together with `startTimeoutMs`.
   * @defaultValue `'forever'`
   */
  retries?: number | 'forever';
  /**
   * Delay before the first reconnection attempt (before jitter), in milliseconds; it doubles per failure.
   * @defaultValue `500`
   */
  intervalMs?: number;
  /**
   * Ceiling of the delay between attempts, in milliseconds.
   * @defaultValue `30_000`
   */
  maxIntervalMs?: number;
}

/** TLS settings for `amqps://` URLs. Certificates are verified unless `insecure` is set. */
export interface TlsOptions {
  /** CA certificates (PEM) to trust besides the system ones. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate (PEM) for mutual TLS. */
  cert?: string | Buffer;
  /** Client private key (PEM). */
  key?: string | Buffer;
  /** Passphrase of `key`. */
  passphrase?: string;
  /** Server name for SNI and verification; defaults to the URL's host. */
  servername?: string;
  /**
   * Skips certificate verification (the Go library's `InsecureSkipVerify`). Only for tests.
   * @defaultValue `false`
   */
  insecure?: boolean;
}

/** Propagates a tracing context (OpenTelemetry or other) through AMQP headers. */
export interface ContextPropagation {
  /** Called on publish: write the active context into `headers` (e.g. `propagation.inject(context.active(), headers)`). */
  inject(headers: Record<string, unknown>): void;
  /**
   * Called around each task run: run `fn` inside the context read from `headers`
   * (e.g. `context.with(propagation.extract(ROOT_CONTEXT, headers), fn)`).
   */
  runInContext<T>(headers: Readonly<Record<string, unknown>>, fn: () => T): T;
}

/** Options of {@link Server}. */
export interface ServerOptions<Defs extends readonly TaskDefinition[] = readonly TaskDefinition[]> {
  /** Broker URL, e.g. `amqp://guest:guest@localhost:5672/` (`amqps://` for TLS). */
  url: string;
  /** Exchange every task is published to (declared durable at each connection). */
  exchange: string;
  /** Routing key of tasks that name none. */
  defaultRoutingKey: string;
  /**
   * Type of the exchange.
   * @defaultValue `'direct'` (as the Go library)
   */
  exchangeType?: ExchangeType;
  /**
   * Queues (and binding keys) declared at every connection, before any worker starts.
   * @defaultValue `[]`
   */
  queues?: readonly QueueSpec[];
  /** Reconnection policy; see {@link ReconnectOptions}. */
  reconnect?: ReconnectOptions;
  /**
   * TLS options; they need an `amqps://` URL (with `amqp://` the constructor throws
   * `DSP_TASKS_INVALID_ARGUMENT` rather than connect unencrypted).
   */
  tls?: TlsOptions;
  /**
   * A pino-compatible logger; the server makes child loggers per component.
   * @defaultValue core's `noopLogger`
   */
  logger?: Logger;
  /**
   * Logs every publish and every task step at `debug` level (the Go `DebugMode`); the logger's own level
   * must let `debug` through.
   * @defaultValue `false`
   */
  debug?: boolean;
  /**
   * How task bodies are written; use `goCodec` to share queues with Go workers.
   * @defaultValue `jsonCodec`
   */
  codec?: TaskCodec;
  /** Task definitions: publishing by name is type-checked against them and validated. */
  tasks?: Defs;
  /**
   * AMQP heartbeat, in seconds; detects a silently dead peer within about twice this. `0` disables it.
   * @defaultValue `10`
   */
  heartbeatSeconds?: number;
  /**
   * Time one connection attempt (TCP + TLS + AMQP handshake) may take, in milliseconds.
   * @defaultValue `10_000`
   */
  connectTimeoutMs?: number;
  /**
   * Time `start()` waits for the first connection (retries included), in milliseconds; start-up with the
   * broker down fails with `DSP_TASKS_CONNECT_FAILED` instead of hanging.
   * @defaultValue `30_000`
   */
  startTimeoutMs?: number;
  /**
   * Publishes held while disconnected (or not yet confirmed); more fail at once with `DSP_TASKS_BUFFER_FULL`.
   * @defaultValue `10_000`
   */
  maxBufferedPublishes?: number;
  /**
   * Default time a publish may take until confirmed (waiting for a connection included), in milliseconds.
   * @defaultValue `30_000`
   */
  publishTimeoutMs?: number;
  /**
   * Default deadline of `close()`, in milliseconds: running tasks get this long before they are aborted
   * and left for redelivery.
   * @defaultValue `30_000`
   */
  closeTimeoutMs?: number;
  /** `connection_name` client property, shown by the broker's management tools. */
  connectionName?: string;
  /** Tracing context propagation through headers. */
  propagation?: ContextPropagation;
}

/** Defaults of {@link ServerOptions}. */
export const DEFAULT_SERVER_OPTIONS = Object.freeze({
  exchangeType: 'direct' as ExchangeType,
  queues: Object.freeze([]) as readonly QueueSpec[],
  reconnect: Object.freeze({
    retries: 'forever' as number | 'forever',
    intervalMs: 500,
    maxIntervalMs: 30_000,
  }),
  debug: false,
  heartbeatSeconds: 10,
  connectTimeoutMs: 10_000,
  startTimeoutMs: 30_000,
  maxBufferedPublishes: 10_000,
  publishTimeoutMs: 30_000,
  closeTimeoutMs: 30_000,
});
