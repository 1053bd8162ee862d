/**
 * The broker's TCP server: accepts sockets, runs one {@link AmqpConnection} per socket over the shared
 * virtual hosts, and closes them gracefully on `close()` (connection.close 320, then wait for close-ok).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Lifecycle, runCloseSteps, settleWithin } from '@dispatcher/core';
import { BROKER_SERVER_DEFAULTS, type BrokerServerOptions } from './broker-server-options.js';
import { CLOSE_CONNECTION_DEFAULTS, type CloseConnectionOptions } from './close-connection-options.js';
import type { ConnectionInfo } from './connection-info.js';
import { BrokerError } from './errors.js';
import { AmqpConnection, type ConnectionSettings } from './protocol/connection.js';
import { serverProperties } from './protocol/server-properties.js';
import { MemoryGauge } from './queue/memory-gauge.js';
import { BrokerStore, type StoreRecoveryReport } from './store/broker-store.js';
import { VirtualHost } from './vhost/virtual-host.js';

const VERSION = '0.0.0';

/** Connection-level (hard) AMQP reply codes that {@link BrokerServer.closeConnection} may send. */
const HARD_ERROR_CODES: ReadonlySet<number> = new Set([
  320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541,
]);

export class BrokerServer extends Lifecycle {
  readonly #options: Required<Omit<BrokerServerOptions, 'logger' | 'persistDir' | 'persistFsync'>>;
  readonly #persistDir: string | undefined;
  readonly #persistFsync: BrokerServerOptions['persistFsync'];
  readonly #memory: MemoryGauge;
  #store: BrokerStore | undefined;
  readonly #settings: ConnectionSettings;
  readonly #vhosts = new Map<string, VirtualHost>();
  readonly #connections = new Set<AmqpConnection>();
  #server: Server | undefined;
  #port = 0;

  constructor(options: BrokerServerOptions = {}) {
    super(options.logger?.child({ component: 'amqp-broker' }));
    const o = { ...BROKER_SERVER_DEFAULTS, ...withoutUndefined(options) };
    validate(o);
    this.#options = o;
    this.#persistDir = options.persistDir;
    this.#persistFsync = options.persistFsync;
    const memory = new MemoryGauge(o.memoryHighWaterBytes);
    this.#memory = memory;
    for (const name of o.vhosts) this.#vhostNamed(name);
    this.#settings = {
      heartbeatSeconds: o.heartbeatSeconds,
      frameMax: o.frameMaxBytes,
      channelMax: o.channelMax,
      users: new Map(Object.entries(o.users)),
      vhosts: this.#vhosts,
      strictFieldTypes: o.strictFieldTypes,
      maxMessageBytes: o.maxMessageBytes,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      closeTimeoutMs: o.closeTimeoutMs,
      highWaterBytes: o.highWaterBytes,
      readBudgetBytes: o.readBudgetBytes,
      memory,
      serverProperties: serverProperties({ product: o.product, version: VERSION }),
      log: this.log,
    };
  }

  /** The port listened on (known after `start()`; useful with `port: 0`). */
  get port(): number {
    return this.#port;
  }

  /** Number of open client connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** The open client connections (RabbitMQ's `list_connections`), in the order they were accepted. */
  connections(): ConnectionInfo[] {
    return [...this.#connections]
      .filter((c) => c.state !== 'closed')
      .map((c) => ({
        name: c.name,
        clientProvidedName: c.clientProvidedName,
        user: c.username,
        vhost: c.vhostName,
      }));
  }

  /**
   * Closes, from the broker's side, every client connection whose name (`client:port -> server:port`,
   * see {@link connections}) or `connection_name` client property is `name` — what
   * `rabbitmqctl close_connection` and the management API's connection delete do. An open connection gets
   * connection.close with `replyCode` (320 CONNECTION_FORCED by default) and `CONNECTION_FORCED - <reason>`;
   * its channels stop at once and their unacknowledged messages return to their queues; the broker then
   * waits for close-ok (at most `closeTimeoutMs`) before closing the socket. A connection still in its
   * handshake is dropped. Resolves, once those sockets are closed, with how many connections matched.
   *
   * @throws BrokerError `DSP_BROKER_INVALID_ARGUMENT` when `replyCode` is not a connection-level code.
   */
  async closeConnection(name: string, options: CloseConnectionOptions = {}): Promise<number> {
    const { reason, replyCode } = { ...CLOSE_CONNECTION_DEFAULTS, ...withoutUndefined(options) };
    if (!HARD_ERROR_CODES.has(replyCode)) {
      throw new BrokerError(
        'DSP_BROKER_INVALID_ARGUMENT',
        `replyCode must be a connection-level AMQP code (${[...HARD_ERROR_CODES].join(', ')}), got ${replyCode}`,
      );
    }
    const matching = [...this.#connections].filter(
      (c) => c.state !== 'closed' && (c.name === name || c.clientProvidedName === name),
    );
    for (const c of matching) this.log.info({ connection: c.name, replyCode, reason }, 'closing connection');
    await Promise.all(matching.map((c) => c.shutdown(reason, replyCode)));
    return matching.length;
  }

  /** What recovery found at start-up (undefined without `persistDir`). */
  get recovery(): StoreRecoveryReport | undefined {
    return this.#store?.report;
  }

  #vhostNamed(name: string): VirtualHost {
    let v = this.#vhosts.get(name);
    if (v === undefined) {
      v = new VirtualHost(
        name,
        this.#memory,
        this.#options.queueFlowHighWaterMessages,
        this.log.child({ vhost: name }),
      );
      this.#vhosts.set(name, v);
    }
    return v;
  }

  /** A virtual host by name (for inspection and tests). */
  vhost(name = '/'): VirtualHost | undefined {
    return this.#vhosts.get(name);
  }

  protected async onStart(): Promise<void> {
    if (this.#persistDir !== undefined) {
      this.#store = await BrokerStore.open({
        dir: this.#persistDir,
        vhost: (name) => this.#vhostNamed(name),
        vhosts: () => this.#vhosts.values(),
        strict: this.#options.strictFieldTypes,
        logger: this.log,
        ...(this.#persistFsync ? { fsync: this.#persistFsync } : {}),
      });
    }
    const server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
    this.#server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => {
          reject(
            new BrokerError(
              'DSP_BROKER_LISTEN_FAILED',
              `cannot listen on ${this.#options.host}:${this.#options.port}: ${err.message}`,
              { cause: err },
            ),
          );
        };
        server.once('error', onError);
        server.listen(this.#options.port, this.#options.host, () => {
          server.off('error', onError);
          resolve();
        });
      });
    } catch (err) {
      // The directory lock must not outlive a failed start (a retry on another address needs it).
      await this.#store?.close().catch(() => {});
      this.#store = undefined;
      throw err;
    }
    server.on('error', (err) => this.log.error({ err }, 'server error'));
    const address = server.address();
    this.#port = typeof address === 'object' && address !== null ? address.port : this.#options.port;
    this.log.info({ host: this.#options.host, port: this.#port }, 'AMQP broker listening');
  }

  protected async onClose(): Promise<void> {
    const server = this.#server;
    await runCloseSteps(this.log, [
      [
        'stop accepting',
        () => {
          server?.close();
        },
      ],
      [
        'close connections',
        async () => {
          const closing = Promise.all([...this.#connections].map((c) => c.shutdown()));
          const done = await settleWithin(closing, this.#options.closeTimeoutMs + 1_000);
          if (!done) for (const c of this.#connections) c.destroy();
        },
      ],
      ['flush the store', () => this.#store?.close()],
    ]);
  }

  protected onDestroy(err?: Error): void {
    if (err !== undefined) this.log.error({ err }, 'broker destroyed');
    for (const c of this.#connections) c.destroy();
    this.#connections.clear();
    this.#server?.close();
    this.#store?.destroy(err);
  }

  #accept(socket: Socket): void {
    if (this.state !== 'running' && this.state !== 'starting') {
      socket.destroy();
      return;
    }
    const conn = new AmqpConnection(socket, this.#settings, (c) => this.#connections.delete(c));
    this.#connections.add(conn);
  }
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validate(o: Required<Omit<BrokerServerOptions, 'logger' | 'persistDir' | 'persistFsync'>>): void {
  const fail = (message: string): never => {
    throw new BrokerError('DSP_BROKER_INVALID_ARGUMENT', message);
  };
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) fail(`port must be 0..65535, got ${o.port}`);
  if (!Number.isInteger(o.heartbeatSeconds) || o.heartbeatSeconds < 0 || o.heartbeatSeconds > 65535) {
    fail(`heartbeatSeconds must be 0..65535, got ${o.heartbeatSeconds}`);
  }
  if (!Number.isInteger(o.frameMaxBytes) || o.frameMaxBytes < 4096) {
    fail(`frameMaxBytes must be an integer ≥ 4096, got ${o.frameMaxBytes}`);
  }
  if (!Number.isInteger(o.channelMax) || o.channelMax < 1 || o.channelMax > 65535) {
    fail(`channelMax must be 1..65535, got ${o.channelMax}`);
  }
  if (!Number.isInteger(o.maxMessageBytes) || o.maxMessageBytes < 0) {
    fail(`maxMessageBytes must be a non-negative integer, got ${o.maxMessageBytes}`);
  }
  if (!Number.isInteger(o.memoryHighWaterBytes) || o.memoryHighWaterBytes < 0) {
    fail(`memoryHighWaterBytes must be a non-negative integer, got ${o.memoryHighWaterBytes}`);
  }
  if (!Number.isInteger(o.readBudgetBytes) || o.readBudgetBytes < 0) {
    fail(`readBudgetBytes must be a non-negative integer, got ${o.readBudgetBytes}`);
  }
  if (!Number.isInteger(o.queueFlowHighWaterMessages) || o.queueFlowHighWaterMessages < 0) {
    fail(`queueFlowHighWaterMessages must be a non-negative integer, got ${o.queueFlowHighWaterMessages}`);
  }
  if (o.vhosts.length === 0) fail('at least one vhost is needed');
}
