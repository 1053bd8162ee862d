import type { FsyncPolicy, Logger } from '@dispatcher/core';
import { diskFreeBytes } from './alarms/disk-free-bytes.js';
import { processMemoryBytes } from './alarms/process-memory-bytes.js';
import type { HashingAlgorithm } from './auth/password-hash.js';
import type { Permission } from './auth/permission-store.js';

/**
 * A user given in the options: a password hash (RabbitMQ's `password_hash` + `hashing_algorithm`, or a
 * bcrypt string) or a plain password (hashed in memory at once), and tags.
 */
export type BrokerUserOptions =
  | {
      /** Base64 salted digest (RabbitMQ's algorithms) or the bcrypt string (`$2a$…`). */
      readonly passwordHash: string;
      /** @defaultValue 'rabbit_password_hashing_sha256' */
      readonly hashingAlgorithm?: HashingAlgorithm;
      /** RabbitMQ's user tags (`administrator`, `monitoring`, `management`, `policymaker`, `impersonator`). @defaultValue [] */
      readonly tags?: readonly string[];
    }
  | {
      readonly password: string;
      /** @defaultValue [] */
      readonly tags?: readonly string[];
    };

/**
 * The `amqps` listener (AMQP over TLS). The same shape suits any other TLS listener of the broker (the
 * admin API's HTTPS).
 */
export interface TlsListenerOptions {
  /** Server certificate chain, PEM. */
  readonly cert: string | Buffer;
  /** Private key of the certificate, PEM. */
  readonly key: string | Buffer;
  /** CA certificates (PEM) that client certificates must chain to; Node's default CAs when absent. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Port of the TLS listener; 0 picks a free one (read it from `server.tlsPort`). @defaultValue 5671 */
  readonly port?: number;
  /** Ask clients for a certificate and refuse one that does not verify against `ca`. @defaultValue false */
  readonly verifyPeer?: boolean;
  /** With `verifyPeer`, also refuse clients that send no certificate. @defaultValue false */
  readonly failIfNoPeerCert?: boolean;
}

/** Defaults of {@link TlsListenerOptions}. */
export const TLS_LISTENER_DEFAULTS = { port: 5671, verifyPeer: false, failIfNoPeerCert: false } as const;

/**
 * The memory high watermark: a fraction of the memory available to the process (the machine's, or the
 * cgroup limit when lower — RabbitMQ's `vm_memory_high_watermark.relative`), or an absolute number of bytes
 * (`vm_memory_high_watermark.absolute`). 0 (either form) turns the process-memory alarm off.
 */
export type MemoryHighWatermark = { readonly fraction: number } | { readonly bytes: number };

/** Options of {@link BrokerServer}. */
export interface BrokerServerOptions {
  /**
   * TCP port to listen on; 0 picks a free port (read it from `server.port` after `start()`).
   * @defaultValue 5672
   */
  port?: number;
  /** Address to listen on. @defaultValue '127.0.0.1' */
  host?: string;
  /**
   * Users allowed to log in (PLAIN and AMQPLAIN), name → plain password (hashed in memory at once) or
   * {@link BrokerUserOptions}. With `persistDir`, these are the initial state: once the broker has written
   * its users to the definitions store, the store wins over this option (see README, "Users").
   * @defaultValue `{ guest: { password: 'guest', tags: ['administrator'] } }` (RabbitMQ's default user)
   */
  users?: Readonly<Record<string, string | BrokerUserOptions>>;
  /** Virtual hosts to create (initial state with `persistDir`, as `users`). @defaultValue `['/']` */
  vhosts?: readonly string[];
  /**
   * Permissions of users on vhosts: RabbitMQ's `configure`/`write`/`read` regular expressions. When
   * undefined, every user of `users` gets `.*`/`.*`/`.*` on every vhost of `vhosts` (the broker's
   * behaviour before permissions existed); when given, only these entries exist and a user without one on
   * a vhost cannot open a connection there. Initial state with `persistDir`, as `users`.
   * @defaultValue undefined (full permissions for every user on every vhost)
   */
  permissions?: readonly Permission[];
  /**
   * Users that may log in only from a loopback address (RabbitMQ's `loopback_users`); [] lifts it.
   * @defaultValue `['guest']`
   */
  loopbackUsers?: readonly string[];
  /** Also listen for AMQP over TLS (`amqps`). @defaultValue undefined (no TLS listener) */
  tls?: TlsListenerOptions;
  /** Heartbeat interval proposed in connection.tune, in seconds (0 disables). @defaultValue 60 */
  heartbeatSeconds?: number;
  /** Largest frame, header and frame-end included, in bytes (≥ 4096). @defaultValue 131072 */
  frameMaxBytes?: number;
  /** Highest channel number a client may open. @defaultValue 2047 */
  channelMax?: number;
  /** Largest message body accepted, in bytes; larger ones close the channel with 406. @defaultValue 134217728 */
  maxMessageBytes?: number;
  /**
   * Use the AMQP 0-9-1 specification's field-table type codes instead of RabbitMQ's (dispatchd's
   * `-strict-mode`). Only for clients written against the letter of the spec.
   * @defaultValue false
   */
  strictFieldTypes?: boolean;
  /** Time a client has to finish the handshake, in milliseconds. @defaultValue 10000 */
  handshakeTimeoutMs?: number;
  /** Time to wait for connection.close-ok before dropping the socket, in milliseconds. @defaultValue 3000 */
  closeTimeoutMs?: number;
  /** Buffered output per connection above which deliveries pause, in bytes. @defaultValue 1048576 */
  highWaterBytes?: number;
  /**
   * Input handled per connection in one event-loop turn, in bytes; past it the socket is paused until the
   * next turn, so one flooding publisher cannot starve other connections. 0: no limit. @defaultValue 65536
   */
  readBudgetBytes?: number;
  /**
   * Flow control: ready messages in one queue with consumers above which connections that publish to it
   * (and do not consume) are no longer read, until the queue is back at half of it or has no consumers.
   * Queues without consumers are not limited (the memory alarm is the backstop). 0 disables.
   * @defaultValue 8192
   */
  queueFlowHighWaterMessages?: number;
  /**
   * Bytes of ready messages (bodies, all queues) above which the memory alarm goes off: connections
   * that publish get connection.blocked and are not read until the count falls to half of it
   * (connection.unblocked). 0 disables this trigger (the process-memory one, `memoryHighWatermark`, is
   * separate). @defaultValue 0
   */
  memoryHighWaterBytes?: number;
  /**
   * The memory alarm: while the process's memory (see `readMemoryBytes`) is above this, connections that
   * publish get connection.blocked ("low on memory") and are not read until it is back at or below it
   * (connection.unblocked). Consuming connections keep going.
   * @defaultValue `{ fraction: 0.4 }` (RabbitMQ's default)
   */
  memoryHighWatermark?: MemoryHighWatermark;
  /** Time between two readings of the process's memory, in milliseconds. @defaultValue 1000 */
  memoryCheckIntervalMs?: number;
  /**
   * Reads the process's memory, in bytes. The default is the resident set size less the memory the C
   * allocator keeps after frees (see `processMemoryBytes`); tests inject their own.
   * @defaultValue processMemoryBytes
   */
  readMemoryBytes?: () => number;
  /**
   * Directory for durable state: durable exchanges, queues and bindings, and persistent messages
   * (delivery-mode 2) routed to durable queues, recovered at start-up before the listener opens; the disk
   * alarm watches the free space of its file system (or, while it does not exist, of its nearest existing
   * parent). '': everything is kept in memory and lost on restart, and there is no disk alarm.
   * @defaultValue ''
   */
  persistDir?: string;
  /**
   * The disk alarm: while fewer bytes than this are free on `persistDir`'s file system, connections that
   * publish get connection.blocked ("low on disk") and are not read (RabbitMQ's `disk_free_limit`).
   * @defaultValue 50000000
   */
  diskFreeLimitBytes?: number;
  /** Time between two readings of the free disk space, in milliseconds. @defaultValue 1000 */
  diskCheckIntervalMs?: number;
  /**
   * Reads the bytes free for the broker on the file system of a directory; tests inject their own.
   * @defaultValue diskFreeBytes (`statfs`: f_bavail × f_bsize)
   */
  readDiskFreeBytes?: (path: string) => Promise<number>;
  /**
   * Open client connections allowed (all vhosts together); connection.open beyond it gets connection.close
   * 530 NOT_ALLOWED "access to vhost '…' refused for user '…': connection limit (N) is reached". 0: no limit.
   * @defaultValue 0
   */
  maxConnections?: number;
  /**
   * Queues allowed per vhost (RabbitMQ's vhost limit `max-queues`); declaring one more gets channel.close
   * 406 PRECONDITION_FAILED "cannot declare queue '…': queue limit in vhost '…' (N) is reached". 0: no limit.
   * @defaultValue 0
   */
  maxQueuesPerVhost?: number;
  /**
   * `product` advertised in connection.start's server properties. RabbitMQ's name by default, because
   * clients and their test suites identify the broker by it (amqplib's own tests assert it); our own
   * name and version are in `information`. Set it to advertise another name. @defaultValue 'RabbitMQ'
   */
  product?: string;
  /**
   * When a persistent message counts as on disk (publisher confirms wait for it): core's log policy.
   * @defaultValue `{ mode: 'batch', maxDelayMs: 2 }` (fdatasync per group commit)
   */
  persistFsync?: FsyncPolicy;
  logger?: Logger;
}

/** Defaults of {@link BrokerServerOptions}. */
export const BROKER_SERVER_DEFAULTS = {
  port: 5672,
  host: '127.0.0.1',
  users: { guest: { password: 'guest', tags: ['administrator'] } } as Readonly<
    Record<string, string | BrokerUserOptions>
  >,
  vhosts: ['/'] as readonly string[],
  permissions: undefined as readonly Permission[] | undefined,
  loopbackUsers: ['guest'] as readonly string[],
  tls: undefined as TlsListenerOptions | undefined,
  heartbeatSeconds: 60,
  frameMaxBytes: 131_072,
  channelMax: 2047,
  maxMessageBytes: 134_217_728,
  strictFieldTypes: false,
  handshakeTimeoutMs: 10_000,
  closeTimeoutMs: 3_000,
  highWaterBytes: 1_048_576,
  readBudgetBytes: 65_536,
  queueFlowHighWaterMessages: 8192,
  memoryHighWaterBytes: 0,
  memoryHighWatermark: { fraction: 0.4 } as MemoryHighWatermark,
  memoryCheckIntervalMs: 1000,
  readMemoryBytes: processMemoryBytes as () => number,
  persistDir: '',
  diskFreeLimitBytes: 50_000_000,
  diskCheckIntervalMs: 1000,
  readDiskFreeBytes: diskFreeBytes as (path: string) => Promise<number>,
  maxConnections: 0,
  maxQueuesPerVhost: 0,
  product: 'RabbitMQ',
  persistFsync: { mode: 'batch', maxDelayMs: 2 } as FsyncPolicy,
} as const;
