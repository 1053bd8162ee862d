/**
 * The broker's TCP server: accepts sockets, runs one {@link AmqpConnection} per socket over the shared
 * virtual hosts, and closes them gracefully on `close()` (connection.close 320, then wait for close-ok).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Lifecycle, runCloseSteps, settleWithin } from '@dispatcher/core';
import { DiskMonitor } from './alarms/disk-monitor.js';
import { MemoryMonitor } from './alarms/memory-monitor.js';
import type { ResourceAlarmStatus } from './alarms/resource-alarm-status.js';
import { ResourceAlarms } from './alarms/resource-alarms.js';
import { totalMemoryBytes } from './alarms/total-memory-bytes.js';
import type { Permission } from './auth/permission-store.js';
import { PermissionStore } from './auth/permission-store.js';
import { TopicPermissionStore } from './auth/topic-permission-store.js';
import { type UserInput, UserStore } from './auth/user-store.js';
import {
  BROKER_SERVER_DEFAULTS,
  type BrokerServerOptions,
  type BrokerUserOptions,
  type MemoryHighWatermark,
  TLS_LISTENER_DEFAULTS,
  type TlsListenerOptions,
} from './broker-server-options.js';
import { CLOSE_CONNECTION_DEFAULTS, type CloseConnectionOptions } from './close-connection-options.js';
import { HARD_ERROR_CODES } from './codec/generated/amqp-constants.js';
import type { ChannelInfo, ConnectionInfo } from './connection-info.js';
import { BrokerError } from './errors.js';
import type { Channel } from './protocol/channel.js';
import { AmqpConnection, type ConnectionSettings } from './protocol/connection.js';
import { serverProperties } from './protocol/server-properties.js';
import { MemoryGauge } from './queue/memory-gauge.js';
import { BrokerStore, type StoreRecoveryReport } from './store/broker-store.js';
import type { SecurityDefinitions } from './store/definitions-file.js';
import { VirtualHost } from './vhost/virtual-host.js';

/** The broker's version (advertised in server properties and the management API). */
export const BROKER_VERSION = '0.0.0';

type ResolvedOptions = Required<Omit<BrokerServerOptions, 'logger' | 'permissions' | 'tls'>> &
  Pick<BrokerServerOptions, 'permissions' | 'tls'>;

export class BrokerServer extends Lifecycle {
  /** The users that may log in (RabbitMQ's internal auth backend); changes are persisted with `persistDir`. */
  readonly users: UserStore;
  /** Per-user, per-vhost permissions; changes are persisted with `persistDir` and apply to the next method. */
  readonly permissions: PermissionStore;
  /**
   * Topic permissions (RabbitMQ's, routing-key expressions per user, vhost and topic exchange); changes are
   * persisted with `persistDir` and apply to the next method.
   */
  readonly topicPermissions = new TopicPermissionStore();
  readonly #options: ResolvedOptions;
  readonly #memory: MemoryGauge;
  #store: BrokerStore | undefined;
  readonly #settings: ConnectionSettings;
  readonly #vhosts = new Map<string, VirtualHost>();
  readonly #connections = new Set<AmqpConnection>();
  readonly #alarms = new ResourceAlarms();
  readonly #memoryMonitor: MemoryMonitor;
  readonly #diskMonitor: DiskMonitor | undefined;
  #server: Server | undefined;
  #tlsServer: Server | undefined;
  #port = 0;
  #tlsPort = 0;

  constructor(options: BrokerServerOptions = {}) {
    super(options.logger?.child({ component: 'amqp-broker' }));
    const o = { ...BROKER_SERVER_DEFAULTS, ...withoutUndefined(options) };
    validate(o);
    this.#options = o;
    const memory = new MemoryGauge(o.memoryHighWaterBytes);
    this.#memory = memory;
    for (const name of o.vhosts) this.#vhostNamed(name);
    this.users = new UserStore(Object.entries(o.users).map(([name, u]) => userInput(name, u)));
    this.permissions = new PermissionStore(
      o.permissions ??
        this.users.list().flatMap((u) => o.vhosts.map((vhost) => fullPermission(u.name, vhost))),
    );
    // Every change is written to the definitions store (with persistDir).
    this.users.onChange((change) => {
      if (change.kind === 'delete') {
        // As RabbitMQ: a deleted user's permissions go with it, and its open connections are closed.
        this.permissions.deleteUser(change.name);
        this.topicPermissions.deleteUser(change.name);
        void this.#closeConnectionsOfUser(change.name);
      }
      this.#store?.definitions.changed();
    });
    this.permissions.onChange(() => this.#store?.definitions.changed());
    this.topicPermissions.onChange(() => this.#store?.definitions.changed());
    const alarmLog = this.log.child({ part: 'resource-alarms' });
    this.#memoryMonitor = new MemoryMonitor({
      highWatermarkBytes: watermarkBytes(o.memoryHighWatermark),
      intervalMs: o.memoryCheckIntervalMs,
      read: o.readMemoryBytes,
      gauge: memory,
      alarms: this.#alarms,
      log: alarmLog,
    });
    if (o.persistDir !== '') {
      this.#diskMonitor = new DiskMonitor({
        path: o.persistDir,
        freeLimitBytes: o.diskFreeLimitBytes,
        intervalMs: o.diskCheckIntervalMs,
        read: o.readDiskFreeBytes,
        alarms: this.#alarms,
        log: alarmLog,
      });
    }
    this.#settings = {
      heartbeatSeconds: o.heartbeatSeconds,
      frameMax: o.frameMaxBytes,
      channelMax: o.channelMax,
      users: this.users,
      permissions: this.permissions,
      topicPermissions: this.topicPermissions,
      loopbackUsers: new Set(o.loopbackUsers),
      vhosts: this.#vhosts,
      strictFieldTypes: o.strictFieldTypes,
      maxMessageBytes: o.maxMessageBytes,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      closeTimeoutMs: o.closeTimeoutMs,
      highWaterBytes: o.highWaterBytes,
      readBudgetBytes: o.readBudgetBytes,
      alarms: this.#alarms,
      maxConnections: o.maxConnections,
      openConnectionCount: () => this.#openConnectionCount(),
      serverProperties: serverProperties({ product: o.product, version: BROKER_VERSION }),
      log: this.log,
    };
  }

  /** The port listened on (known after `start()`; useful with `port: 0`). */
  get port(): number {
    return this.#port;
  }

  /** The port of the TLS listener (known after `start()`; 0 without `tls`). */
  get tlsPort(): number {
    return this.#tlsPort;
  }

  /** Names of the virtual hosts, sorted. */
  vhostNames(): string[] {
    return [...this.#vhosts.keys()].sort();
  }

  /**
   * Creates a virtual host (no-op when it exists). Nobody has permissions on it yet, as in RabbitMQ:
   * grant them with `broker.permissions.put(...)`. Resolves once it is stored (with `persistDir`).
   */
  async addVhost(name: string): Promise<void> {
    if (typeof name !== 'string' || name === '' || Buffer.byteLength(name) > 255) {
      throw new BrokerError('DSP_BROKER_INVALID_ARGUMENT', 'a vhost name must be 1..255 bytes');
    }
    if (this.#vhosts.has(name)) return;
    const v = this.#vhostNamed(name);
    if (this.#store !== undefined) v.attachPersistence(this.#store.persistence);
    this.log.info({ vhost: name }, 'vhost created');
    await this.flushDefinitions();
  }

  /**
   * Deletes a virtual host as RabbitMQ does: its connections get connection.close 320
   * `CONNECTION_FORCED - vhost '<name>' is deleted`, its queues (and their messages) and exchanges are
   * removed, and so are the permissions on it. Resolves with false when there was no such vhost, else once
   * the change is stored (with `persistDir`) and its connections are closed.
   */
  async deleteVhost(name: string): Promise<boolean> {
    const v = this.#vhosts.get(name);
    if (v === undefined) return false;
    this.#vhosts.delete(name);
    const closing = [...this.#connections]
      .filter((c) => c.vhostName === name)
      .map((c) => c.shutdown(`vhost '${name}' is deleted`));
    const queues = v.deleteEverything();
    this.permissions.deleteVhost(name);
    this.topicPermissions.deleteVhost(name);
    this.#store?.definitions.changed();
    this.log.info({ vhost: name, queues, connections: closing.length }, 'vhost deleted');
    await Promise.all([...closing, this.flushDefinitions()]);
    return true;
  }

  /**
   * Deletes a user as RabbitMQ does: its permissions go, and its open connections get connection.close 320
   * `CONNECTION_FORCED - user '<name>' is deleted` (as they do on `users.delete()` too). Resolves with false
   * when there was no such user, else once the change is stored (with `persistDir`) and its connections are
   * closed.
   */
  async deleteUser(name: string): Promise<boolean> {
    if (!this.users.delete(name)) return false;
    await Promise.all([this.#closeConnectionsOfUser(name), this.flushDefinitions()]);
    return true;
  }

  /** Closes (or, mid-handshake, drops) every connection `user` logged in with; resolves once they are. */
  async #closeConnectionsOfUser(user: string): Promise<void> {
    const closing = [...this.#connections]
      .filter((c) => c.username === user && c.state !== 'closed')
      .map((c) => c.shutdown(`user '${user}' is deleted`));
    if (closing.length > 0)
      this.log.info({ user, connections: closing.length }, "closing a deleted user's connections");
    await Promise.all(closing);
  }

  /** Resolves once every change of definitions, users, permissions and vhosts so far is on disk. */
  async flushDefinitions(): Promise<void> {
    await this.#store?.definitions.flushed();
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
        ...c.addresses,
        connectedAt: c.connectedAt,
        heartbeatSeconds: c.heartbeatSeconds,
        frameMax: c.frameMax,
        channelMax: c.channelMax,
        blocked: c.blocked,
        channels: [...c.channels()].filter((ch) => ch.state !== 'closed').map(channelInfo),
      }));
  }

  /** The virtual hosts, in creation order. */
  vhosts(): VirtualHost[] {
    return [...this.#vhosts.values()];
  }

  /** The address the AMQP listener is bound to. */
  get host(): string {
    return this.#options.host;
  }

  /** When the broker was constructed (ms since the epoch; the management API's uptime). */
  readonly createdAt = Date.now();

  /** The per-vhost queue limit (`max-queues`; 0: none). */
  get maxQueuesPerVhost(): number {
    return this.#options.maxQueuesPerVhost;
  }

  /** The connection limit (all vhosts; 0: none). */
  get maxConnections(): number {
    return this.#options.maxConnections;
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
        this.#options.maxQueuesPerVhost,
      );
      this.#vhosts.set(name, v);
    }
    return v;
  }

  /**
   * The resource alarms (RabbitMQ's `memory` and `disk` alarms) with the figures of their last checks,
   * and how many connections they block now.
   */
  resourceAlarms(): ResourceAlarmStatus {
    let blocked = 0;
    for (const c of this.#connections) if (c.blocked) blocked++;
    return {
      memory: this.#memoryMonitor.status(),
      disk: this.#diskMonitor?.status() ?? {
        alarmed: false,
        path: undefined,
        freeBytes: undefined,
        freeLimitBytes: this.#options.diskFreeLimitBytes,
        checkedAt: undefined,
      },
      blockedConnections: blocked,
    };
  }

  /**
   * Checks memory and disk now (rather than at the next poll), sets or clears the alarms accordingly and
   * resolves with {@link resourceAlarms}.
   *
   * @throws BrokerError `DSP_BROKER_CLOSED` once the broker is closing or closed.
   */
  async checkResources(): Promise<ResourceAlarmStatus> {
    if (this.state === 'closing' || this.state === 'closed') {
      throw new BrokerError('DSP_BROKER_CLOSED', 'the broker is closed');
    }
    this.#memoryMonitor.check();
    await this.#diskMonitor?.check();
    return this.resourceAlarms();
  }

  /** A virtual host by name (for inspection and tests). */
  vhost(name = '/'): VirtualHost | undefined {
    return this.#vhosts.get(name);
  }

  protected async onStart(): Promise<void> {
    if (this.#options.persistDir !== '') {
      this.#store = await BrokerStore.open({
        dir: this.#options.persistDir,
        vhost: (name) => this.#vhostNamed(name),
        vhosts: () => this.#vhosts.values(),
        security: () => this.#securitySnapshot(),
        restoreSecurity: (stored) => this.#restoreSecurity(stored),
        strict: this.#options.strictFieldTypes,
        pageWindowBytes: this.#options.queueMemoryWindowBytes,
        logger: this.log,
        fsync: this.#options.persistFsync,
      });
    }
    const watermark = this.#options.memoryHighWatermark;
    this.log.info(
      {
        memoryHighWatermarkBytes: watermarkBytes(watermark),
        ...('fraction' in watermark
          ? { memoryHighWatermarkFraction: watermark.fraction, totalMemoryBytes: totalMemoryBytes() }
          : {}),
        persistDir: this.#options.persistDir === '' ? undefined : this.#options.persistDir,
        diskFreeLimitBytes: this.#diskMonitor === undefined ? undefined : this.#options.diskFreeLimitBytes,
      },
      'resource limits',
    );
    // The alarms are in place before the first client can publish.
    this.#memoryMonitor.start();
    await this.#diskMonitor?.start();
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
    const tls = this.#options.tls;
    if (tls !== undefined) {
      try {
        this.#tlsPort = await this.#listenTls(tls);
      } catch (err) {
        server.close();
        await this.#store?.close().catch(() => {});
        this.#store = undefined;
        throw err;
      }
    }
  }

  async #listenTls(tls: TlsListenerOptions): Promise<number> {
    const t = { ...TLS_LISTENER_DEFAULTS, ...withoutUndefined(tls) };
    let server: Server;
    try {
      server = createTlsServer(
        {
          cert: t.cert,
          key: t.key,
          ...(t.ca === undefined ? {} : { ca: t.ca as string | Buffer | (string | Buffer)[] }),
          requestCert: t.verifyPeer,
          // A client without a certificate passes the handshake unless failIfNoPeerCert (RabbitMQ's
          // fail_if_no_peer_cert); one with a bad certificate never does.
          rejectUnauthorized: t.verifyPeer && t.failIfNoPeerCert,
        },
        (socket) => this.#acceptTls(socket, t.verifyPeer),
      );
    } catch (err) {
      throw new BrokerError('DSP_BROKER_TLS_CONFIG', `tls: ${(err as Error).message}`, { cause: err });
    }
    this.#tlsServer = server;
    server.on('tlsClientError', (err) => this.log.info({ err }, 'TLS handshake failed'));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(
          new BrokerError(
            'DSP_BROKER_LISTEN_FAILED',
            `cannot listen for TLS on ${this.#options.host}:${t.port}: ${err.message}`,
            { cause: err },
          ),
        );
      };
      server.once('error', onError);
      server.listen(t.port, this.#options.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'TLS server error'));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : t.port;
    this.log.info({ host: this.#options.host, port, verifyPeer: t.verifyPeer }, 'AMQPS listening');
    return port;
  }

  #acceptTls(socket: TLSSocket, verifyPeer: boolean): void {
    // With verifyPeer, a certificate that was sent must verify (one that was not is failIfNoPeerCert's call).
    if (
      verifyPeer &&
      socket.getPeerCertificate() !== null &&
      Object.keys(socket.getPeerCertificate()).length > 0
    ) {
      if (!socket.authorized) {
        this.log.info({ reason: socket.authorizationError }, 'TLS client certificate refused');
        socket.destroy();
        return;
      }
    }
    this.#accept(socket);
  }

  #securitySnapshot(): SecurityDefinitions {
    return {
      vhosts: this.vhostNames(),
      users: this.users.list().map((u) => ({ ...u, tags: [...u.tags] })),
      permissions: this.permissions.list(),
      topicPermissions: this.topicPermissions.list(),
    };
  }

  /** The stored vhosts, users and permissions replace the options' (the options are the initial state). */
  #restoreSecurity(stored: SecurityDefinitions | undefined): void {
    if (stored === undefined) return;
    try {
      this.users.replaceAll(stored.users);
      this.permissions.replaceAll(stored.permissions);
      this.topicPermissions.replaceAll(stored.topicPermissions);
    } catch (err) {
      // A hand-edited file: stop rather than start with other users than the operator expects.
      throw new BrokerError(
        'DSP_BROKER_STORE_FORMAT',
        `definitions file: security: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const keep = new Set(stored.vhosts);
    for (const name of [...this.#vhosts.keys()]) if (!keep.has(name)) this.#vhosts.delete(name);
    for (const name of stored.vhosts) this.#vhostNamed(name);
    this.log.info(
      { users: stored.users.length, permissions: stored.permissions.length, vhosts: stored.vhosts.length },
      'users, permissions and vhosts restored from the definitions store',
    );
  }

  protected async onClose(): Promise<void> {
    const server = this.#server;
    await runCloseSteps(this.log, [
      [
        'stop accepting',
        () => {
          server?.close();
          this.#tlsServer?.close();
        },
      ],
      ['stop resource monitors', () => this.#stopMonitors()],
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
    this.#stopMonitors();
    for (const c of this.#connections) c.destroy();
    this.#connections.clear();
    this.#server?.close();
    this.#tlsServer?.close();
    this.#store?.destroy(err);
  }

  #stopMonitors(): void {
    this.#memoryMonitor.stop();
    this.#diskMonitor?.stop();
  }

  /** Connections past connection.open (what `maxConnections` limits). */
  #openConnectionCount(): number {
    let n = 0;
    for (const c of this.#connections) if (c.isOpen) n++;
    return n;
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

function channelInfo(ch: Channel): ChannelInfo {
  return {
    number: ch.id,
    consumerCount: ch.consumerCount,
    unackedCount: ch.unackedCount,
    prefetchCount: ch.prefetchCount,
    consumers: [...ch.consumers()].map((c) => ({
      tag: c.tag,
      queue: c.queue.name,
      ackRequired: !c.noAck,
      exclusive: c.exclusive,
      prefetch: c.prefetch,
      priority: c.priority,
    })),
  };
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The process-memory watermark in bytes (0: off). */
function watermarkBytes(w: MemoryHighWatermark): number {
  return 'bytes' in w ? w.bytes : Math.floor(w.fraction * totalMemoryBytes());
}

function userInput(name: string, u: string | BrokerUserOptions): UserInput {
  if (typeof u === 'string') return { name, password: u };
  if ('password' in u) return { name, password: u.password, tags: u.tags ?? [] };
  return {
    name,
    passwordHash: u.passwordHash,
    ...(u.hashingAlgorithm === undefined ? {} : { hashingAlgorithm: u.hashingAlgorithm }),
    tags: u.tags ?? [],
  };
}

function fullPermission(user: string, vhost: string): Permission {
  return { user, vhost, configure: '.*', write: '.*', read: '.*' };
}

function validate(o: ResolvedOptions): void {
  const fail = (message: string): never => {
    throw new BrokerError('DSP_BROKER_INVALID_ARGUMENT', message);
  };
  const count = (name: string, value: number): void => {
    if (!Number.isSafeInteger(value) || value < 0)
      fail(`${name} must be a non-negative integer, got ${value}`);
  };
  const w = o.memoryHighWatermark;
  if ('bytes' in w) count('memoryHighWatermark.bytes', w.bytes);
  else if (!(typeof w.fraction === 'number' && w.fraction >= 0 && w.fraction <= 1)) {
    fail(`memoryHighWatermark.fraction must be 0..1, got ${String(w.fraction)}`);
  }
  count('memoryCheckIntervalMs', o.memoryCheckIntervalMs);
  count('diskFreeLimitBytes', o.diskFreeLimitBytes);
  count('diskCheckIntervalMs', o.diskCheckIntervalMs);
  count('maxConnections', o.maxConnections);
  count('maxQueuesPerVhost', o.maxQueuesPerVhost);
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
  count('maxMessageBytes', o.maxMessageBytes);
  count('memoryHighWaterBytes', o.memoryHighWaterBytes);
  count('queueMemoryWindowBytes', o.queueMemoryWindowBytes);
  count('readBudgetBytes', o.readBudgetBytes);
  count('queueFlowHighWaterMessages', o.queueFlowHighWaterMessages);
  if (o.vhosts.length === 0) fail('at least one vhost is needed');
  if (Object.keys(o.users).length === 0) fail('at least one user is needed');
  const tlsPort = o.tls?.port;
  if (tlsPort !== undefined && (!Number.isInteger(tlsPort) || tlsPort < 0 || tlsPort > 65535))
    fail(`tls.port must be 0..65535, got ${tlsPort}`);
}
