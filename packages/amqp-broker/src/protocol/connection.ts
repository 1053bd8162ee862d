/**
 * One client connection: protocol header, handshake, heartbeats, frame dispatch to channels, connection
 * close, and batched socket writes.
 *
 *   awaiting-header ──"AMQP 0 0 9 1"──▶ awaiting-start-ok ──start-ok──▶ authenticating ──ok──▶ awaiting-tune-ok
 *        │ other header: send "AMQP 0 0 9 1", close                            │ refused: close 403    │ tune-ok
 *        ▼                                                                     ▼                       ▼
 *     (closed)                                    (closing)  open ◀──connection.open (vhost access)── awaiting-open
 *                                                                       │  client connection.close: close-ok ──▶ closed
 *   any state ──hard error / shutdown: connection.close sent──▶ closing ──close-ok or timeout──▶ closed
 *
 * Hard errors (frame errors, unexpected frames, bad methods) close the connection with their reply code;
 * soft errors close one channel. Nothing a peer sends can throw out of this class.
 *
 * Output: every frame of an event-loop turn is encoded into one buffer and written once (setImmediate).
 * Consumers pause while more than `highWaterBytes` are buffered or the socket needs draining.
 *
 * Input is read in bounded slices: once `readBudgetBytes` have been handled in one event-loop turn, the
 * socket is paused until the next turn, so one flooding publisher cannot hold the loop (and every other
 * connection's deliveries and acks) for hundreds of milliseconds. The socket is also not read while a
 * resource alarm (memory, disk) blocks the connection or while a queue it published to is congested (flow
 * control, see {@link Queue.congested}); each cause is one bit of `#readPaused`, and reading resumes when
 * none is left.
 *
 * Resource alarms block a connection once it has published (at the alarm if it published before, else at
 * its first publish during it), as RabbitMQ does: connection.blocked with RabbitMQ's reason ("low on
 * memory", "low on disk") when the client announced the `connection.blocked` capability, then the socket
 * is not read until every alarm has cleared (connection.unblocked). Connections that never published keep
 * going: their acks may be what lets the alarm clear.
 */
import type { Socket } from 'node:net';
import type { Logger } from '@dispatcher/core';
import type { ResourceAlarms } from '../alarms/resource-alarms.js';
import { isLoopbackAddress } from '../auth/loopback-address.js';
import type { PermissionStore } from '../auth/permission-store.js';
import { ResourceAccess } from '../auth/resource-access.js';
import { isSaslMechanism, parseSaslResponse, SASL_MECHANISMS, type SaslMechanism } from '../auth/sasl.js';
import type { TopicPermissionStore } from '../auth/topic-permission-store.js';
import type { User, UserStore } from '../auth/user-store.js';
import { decodeBasicPublish, isBasicPublish } from '../codec/basic-publish-decoder.js';
import { ByteReader } from '../codec/byte-reader.js';
import { ByteWriter } from '../codec/byte-writer.js';
import type { FieldTable } from '../codec/field-table.js';
import { fieldBoolean, fieldString } from '../codec/field-table.js';
import {
  writeBodyFrames,
  writeDelivery,
  writeHeaderFrame,
  writeHeartbeatFrame,
  writeMethodFrame,
} from '../codec/frame-encoder.js';
import { FrameParser } from '../codec/frame-parser.js';
import {
  ACCESS_REFUSED,
  type AmqpMethod,
  CHANNEL_ERROR,
  ClassId,
  COMMAND_INVALID,
  CONNECTION_FORCED,
  FRAME_BODY,
  FRAME_ERROR,
  FRAME_HEADER,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  FRAME_MIN_SIZE,
  INTERNAL_ERROR,
  MethodId,
  methodName,
  NOT_ALLOWED,
  UNEXPECTED_FRAME,
} from '../codec/generated/amqp-spec.js';
import { decodeMethodFrameAt } from '../codec/method-decoder.js';
import { ShortStringCache } from '../codec/short-string-cache.js';
import { AmqpError, connectionError } from '../errors.js';
import type { Message } from '../queue/message.js';
import type { Queue } from '../queue/queue.js';
import type { VirtualHost } from '../vhost/virtual-host.js';
import { Channel, type ChannelHost } from './channel.js';
import { turnClock } from './turn-clock.js';

const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);

/** Why the socket is not being read (bits of `#readPaused`). */
const PAUSED_BUDGET = 1;
const PAUSED_FLOW = 2;
const PAUSED_ALARM = 4;

/** Broker settings a connection works with (resolved by the server). */
export interface ConnectionSettings {
  readonly heartbeatSeconds: number;
  readonly frameMax: number;
  readonly channelMax: number;
  readonly users: UserStore;
  readonly permissions: PermissionStore;
  /** Topic permissions (routing-key expressions per topic exchange); undefined: none apply. */
  readonly topicPermissions?: TopicPermissionStore | undefined;
  /** Users that may log in only from a loopback address (RabbitMQ's `loopback_users`). */
  readonly loopbackUsers: ReadonlySet<string>;
  readonly vhosts: ReadonlyMap<string, VirtualHost>;
  readonly strictFieldTypes: boolean;
  readonly maxMessageBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly highWaterBytes: number;
  /** Input handled per connection per event-loop turn before the socket is paused until the next turn. */
  readonly readBudgetBytes: number;
  /** The memory and disk alarms (connection.blocked). */
  readonly alarms: ResourceAlarms;
  /** Open connections allowed (connection.open beyond it: 530); 0: no limit. */
  readonly maxConnections: number;
  /** Connections of the broker past connection.open. */
  readonly openConnectionCount: () => number;
  readonly serverProperties: FieldTable;
  readonly log: Logger;
}

type ConnectionState =
  | { readonly kind: 'awaiting-header'; readonly received: Buffer }
  | { readonly kind: 'awaiting-start-ok' }
  | { readonly kind: 'authenticating' }
  | { readonly kind: 'awaiting-tune-ok'; readonly user: User }
  | { readonly kind: 'awaiting-open'; readonly user: User }
  | {
      readonly kind: 'open';
      readonly user: User;
      readonly vhost: VirtualHost;
      readonly access: ResourceAccess;
    }
  | { readonly kind: 'closing'; readonly vhost: VirtualHost | undefined }
  | { readonly kind: 'closed' };

let nextConnectionId = 1;

export class AmqpConnection implements ChannelHost {
  readonly id = nextConnectionId++;
  readonly log: Logger;
  readonly owner: object = this;
  readonly strictFieldTypes: boolean;
  readonly maxMessageBytes: number;
  /** RabbitMQ's connection name: `client address:port -> server address:port`. */
  readonly name: string;
  consumerCancelNotify = false;

  readonly #socket: Socket;
  readonly #settings: ConnectionSettings;
  readonly #onClosed: (conn: AmqpConnection) => void;
  #state: ConnectionState = { kind: 'awaiting-header', received: Buffer.alloc(0) };
  readonly #parser: FrameParser;
  readonly #reader: ByteReader;
  readonly #out: ByteWriter;
  /** The last exchange name and routing key a publish carried (see decodeBasicPublish). */
  readonly #exchangeNames = new ShortStringCache();
  readonly #routingKeys = new ShortStringCache();
  readonly #channels = new Map<number, Channel>();
  readonly #confirmChannels = new Set<Channel>();
  #frameMax: number;
  #channelMax: number;
  #heartbeatSeconds = 0;
  #flushScheduled = false;
  #socketBlocked = false;
  #starved = false;
  #lastReceivedAt = Date.now();
  #sentSinceTick = false;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #authFailureClose = false;
  /** The `connection_name` client property, when the client gave one. */
  #clientProvidedName: string | undefined;
  #username: string | undefined;
  /** The client understands connection.blocked/unblocked (capability). */
  #blockedNotify = false;
  /** This connection has published: resource alarms block it. */
  #publisher = false;
  #blocked = false;
  /** PAUSED_* bits: the socket is read only when this is 0. */
  #readPaused = 0;
  /** Bytes handled in turn `#turn` (read budget). */
  #turnBytes = 0;
  #turn = -1;
  /** The congested queue this connection waits for (flow control). */
  #flowQueue: Queue | undefined;
  readonly #stopAlarm: () => void;
  readonly #closedPromise: Promise<void>;
  #resolveClosed!: () => void;

  constructor(socket: Socket, settings: ConnectionSettings, onClosed: (conn: AmqpConnection) => void) {
    this.#socket = socket;
    this.#settings = settings;
    this.#onClosed = onClosed;
    this.name = `${socket.remoteAddress}:${socket.remotePort} -> ${socket.localAddress}:${socket.localPort}`;
    this.log = settings.log.child({
      connection: this.id,
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
    });
    this.strictFieldTypes = settings.strictFieldTypes;
    this.maxMessageBytes = settings.maxMessageBytes;
    this.#frameMax = settings.frameMax;
    this.#channelMax = settings.channelMax;
    // Until tune-ok, accept frames up to our own maximum.
    this.#parser = new FrameParser(settings.frameMax);
    this.#reader = new ByteReader(settings.strictFieldTypes);
    this.#out = new ByteWriter(16_384, settings.strictFieldTypes);
    this.#closedPromise = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => this.#onDrain());
    socket.on('error', (err) => this.log.debug({ err }, 'socket error'));
    socket.on('close', () => this.#onSocketClose());
    this.#deadlineTimer = setTimeout(() => {
      if (this.#state.kind !== 'open') {
        this.log.info({ state: this.#state.kind }, 'handshake timeout');
        this.destroy();
      }
    }, settings.handshakeTimeoutMs);
    this.#deadlineTimer.unref();
    this.#stopAlarm = settings.alarms.onChange(this.#onAlarm);
  }

  get state(): ConnectionState['kind'] {
    return this.#state.kind;
  }

  get vhost(): VirtualHost {
    const s = this.#state;
    if (s.kind === 'open') return s.vhost;
    throw connectionError(COMMAND_INVALID, 'connection not open');
  }

  /** The permission checks of the logged-in user on the open vhost. */
  get access(): ResourceAccess {
    const s = this.#state;
    if (s.kind === 'open') return s.access;
    throw connectionError(COMMAND_INVALID, 'connection not open');
  }

  /** The logged-in user may set another user's name in `user_id` (tag `impersonator`). */
  get impersonator(): boolean {
    const s = this.#state;
    return s.kind === 'open' && s.user.tags.includes('impersonator');
  }

  get frameMax(): number {
    return this.#frameMax;
  }

  /** The `connection_name` client property (RabbitMQ's `user_provided_name`), if any. */
  get clientProvidedName(): string | undefined {
    return this.#clientProvidedName;
  }

  /** The user that logged in (undefined before connection.start-ok succeeded). */
  get username(): string | undefined {
    return this.#username;
  }

  /** The virtual host once the connection is open, else undefined. */
  get vhostName(): string | undefined {
    const s = this.#state;
    return s.kind === 'open' ? s.vhost.name : undefined;
  }

  get channelCount(): number {
    return this.#channels.size;
  }

  /** The open channels (management API). */
  channels(): IterableIterator<Channel> {
    return this.#channels.values();
  }

  /** When the socket was accepted (ms since the epoch). */
  readonly connectedAt = Date.now();

  /** The client's and the server's address and port of the socket. */
  get addresses(): { peerHost: string; peerPort: number; host: string; port: number } {
    const s = this.#socket;
    return {
      peerHost: s.remoteAddress ?? '',
      peerPort: s.remotePort ?? 0,
      host: s.localAddress ?? '',
      port: s.localPort ?? 0,
    };
  }

  /** Resolves once the socket has closed. */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  // ---- ChannelHost -------------------------------------------------------------------------------

  sendMethod(channel: number, method: AmqpMethod): void {
    if (this.#state.kind === 'closed') return;
    writeMethodFrame(this.#out, channel, method);
    this.#scheduleFlush();
  }

  sendContent(channel: number, method: AmqpMethod, properties: Buffer, body: Buffer): void {
    if (this.#state.kind === 'closed') return;
    const w = this.#out;
    writeMethodFrame(w, channel, method);
    writeHeaderFrame(w, channel, ClassId.Basic, body.length, properties);
    writeBodyFrames(w, channel, body, this.#frameMax);
    this.#scheduleFlush();
  }

  sendDelivery(
    channel: number,
    consumerTag: Buffer,
    deliveryTag: number,
    redelivered: boolean,
    message: Message,
  ): void {
    if (this.#state.kind === 'closed') return;
    writeDelivery(
      this.#out,
      channel,
      consumerTag,
      deliveryTag,
      redelivered,
      message.addressBytes,
      message.rawProperties,
      message.body,
      this.#frameMax,
    );
    this.#scheduleFlush();
  }

  canWrite(): boolean {
    if (this.#socketBlocked || this.#out.length > this.#settings.highWaterBytes) {
      this.#starved = true;
      return false;
    }
    return true;
  }

  confirmsPending(channel: Channel): void {
    this.#confirmChannels.add(channel);
    // Inside a read they go out at its end; a confirm released later (outside a read) with the next write.
    this.#scheduleFlush();
  }

  runDeferred(channel: Channel, handle: () => void): void {
    if (this.#state.kind === 'closed' || this.#channels.get(channel.id) !== channel) return;
    try {
      try {
        handle();
      } catch (err) {
        this.#channelFailed(channel, err);
      }
      if (channel.state === 'closed') {
        this.#channels.delete(channel.id);
        this.#confirmChannels.delete(channel);
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  publishing(): void {
    this.#publisher = true;
    if (!this.#blocked && this.#settings.alarms.blocking) this.#block();
  }

  /** True while a resource alarm blocks this connection (its socket is not read). */
  get blocked(): boolean {
    return this.#blocked;
  }

  readonly #onAlarm = (blocking: boolean): void => {
    if (blocking) {
      if (this.#publisher && !this.#blocked && this.#state.kind === 'open') this.#block();
    } else if (this.#blocked) {
      this.#blocked = false;
      if (this.#blockedNotify) this.sendMethod(0, { id: MethodId.ConnectionUnblocked });
      this.#resumeReading(PAUSED_ALARM);
      this.log.info('resource alarms cleared: connection unblocked');
    }
  };

  /** A resource alarm is set and this connection publishes: stop reading it (RabbitMQ's blocking). */
  #block(): void {
    this.#blocked = true;
    const reason = this.#settings.alarms.reason;
    if (this.#blockedNotify) this.sendMethod(0, { id: MethodId.ConnectionBlocked, reason });
    this.#pauseReading(PAUSED_ALARM);
    this.log.info({ reason }, 'resource alarm: connection blocked');
  }

  /**
   * Flow control: a message from this connection went to `queue`, which holds more ready messages than
   * its flow watermark. The socket is not read until the queue is back under its low watermark.
   * Connections that consume are never paused (their acks may be what drains the queue).
   */
  congested(queue: Queue): void {
    if (this.#flowQueue !== undefined || this.#state.kind !== 'open') return;
    for (const ch of this.#channels.values()) if (ch.consumes) return;
    this.#flowQueue = queue;
    queue.waitForDrain(this.#onQueueDrained);
    this.#pauseReading(PAUSED_FLOW);
  }

  /** True while flow control holds this connection (a queue it publishes to is congested). */
  get flowPaused(): boolean {
    return (this.#readPaused & PAUSED_FLOW) !== 0;
  }

  readonly #onQueueDrained = (): void => {
    this.#flowQueue = undefined;
    this.#resumeReading(PAUSED_FLOW);
  };

  #pauseReading(reason: number): void {
    if (this.#readPaused === 0) this.#socket.pause();
    this.#readPaused |= reason;
  }

  #resumeReading(reason: number): void {
    if ((this.#readPaused & reason) === 0) return;
    this.#readPaused &= ~reason;
    if (this.#readPaused !== 0) return;
    // Time spent paused is not the client's silence.
    this.#lastReceivedAt = Date.now();
    this.#socket.resume();
  }

  /**
   * The connection is closing or closed: read again whatever paused it, so the close-ok and the peer's
   * FIN are seen (a paused socket never reports its end, and the connection would never finish closing).
   */
  #stopPausing(): void {
    if (this.#flowQueue !== undefined) this.#flowQueue.stopWaiting(this.#onQueueDrained);
    this.#flowQueue = undefined;
    if (this.#readPaused === 0) return;
    this.#readPaused = 0;
    this.#socket.resume();
  }

  readonly #endOfBudgetPause = (): void => {
    this.#resumeReading(PAUSED_BUDGET);
  };

  // ---- lifecycle ---------------------------------------------------------------------------------

  /**
   * Graceful close from the broker side (shutdown, or an operator closing the connection):
   * connection.close with `replyCode` (320 CONNECTION_FORCED unless given) and `reason`, then wait for
   * close-ok (or the close timeout). A connection still in its handshake is dropped. Resolves when the
   * socket is closed.
   */
  shutdown(
    reason = "broker forced connection closure with reason 'shutdown'",
    replyCode = CONNECTION_FORCED,
  ): Promise<void> {
    const s = this.#state;
    if (s.kind === 'open') {
      this.#closeWith(connectionError(replyCode, reason));
    } else if (s.kind !== 'closing' && s.kind !== 'closed') {
      this.destroy();
    }
    return this.#closedPromise;
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#teardown();
    this.#socket.destroy();
  }

  // ---- input -------------------------------------------------------------------------------------

  #onData(chunk: Buffer): void {
    this.#lastReceivedAt = Date.now();
    const turn = turnClock.current();
    if (turn !== this.#turn) {
      this.#turn = turn;
      this.#turnBytes = 0;
    }
    this.#turnBytes += chunk.length;
    const budget = this.#settings.readBudgetBytes;
    if (budget > 0 && this.#turnBytes >= budget && (this.#readPaused & PAUSED_BUDGET) === 0) {
      // Handle this chunk, then let every other connection (and the writes) have the loop.
      this.#pauseReading(PAUSED_BUDGET);
      setImmediate(this.#endOfBudgetPause);
    }
    try {
      if (this.#state.kind === 'awaiting-header') {
        chunk = this.#onHeaderBytes(chunk);
        if (chunk.length === 0) return;
      }
      if (this.#state.kind === 'closed') return;
      this.#parser.pushRange(chunk, this.#onFrame);
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#flushConfirms();
    }
  }

  /** Sends the publisher confirms that became ready since the last time. */
  #flushConfirms(): void {
    if (this.#confirmChannels.size === 0) return;
    for (const ch of this.#confirmChannels) ch.flushConfirms();
    this.#confirmChannels.clear();
  }

  /** Collects the 8-byte protocol header; returns the bytes after it. */
  #onHeaderBytes(chunk: Buffer): Buffer {
    const s = this.#state;
    if (s.kind !== 'awaiting-header') return chunk;
    const received = s.received.length === 0 ? chunk : Buffer.concat([s.received, chunk]);
    if (received.length < 8) {
      // A prefix that is already wrong need not wait for 8 bytes.
      if (!PROTOCOL_HEADER.subarray(0, received.length).equals(received)) this.#refuseHeader(received);
      else this.#state = { kind: 'awaiting-header', received };
      return Buffer.alloc(0);
    }
    if (!received.subarray(0, 8).equals(PROTOCOL_HEADER)) {
      this.#refuseHeader(received);
      return Buffer.alloc(0);
    }
    this.#state = { kind: 'awaiting-start-ok' };
    this.sendMethod(0, {
      id: MethodId.ConnectionStart,
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: this.#settings.serverProperties,
      mechanisms: Buffer.from(SASL_MECHANISMS.join(' ')),
      locales: Buffer.from('en_US'),
    });
    return received.subarray(8);
  }

  /** Wrong protocol header: answer with the one we speak, then close (spec 4.2.2). */
  #refuseHeader(received: Buffer): void {
    this.log.debug({ header: received.subarray(0, 8).toString('hex') }, 'unsupported protocol header');
    this.#teardown();
    this.#socket.end(PROTOCOL_HEADER);
  }

  readonly #onFrame = (type: number, channelId: number, buf: Buffer, start: number, end: number): void => {
    const s = this.#state;
    if (s.kind === 'closed') return;
    if (s.kind === 'closing') {
      // Only the close handshake matters now.
      if (type === FRAME_METHOD && channelId === 0) {
        const m = decodeMethodFrameAt(this.#reader, buf, start, end);
        if (m.id === MethodId.ConnectionCloseOk) this.#finishClose();
        else if (m.id === MethodId.ConnectionClose) {
          this.sendMethod(0, { id: MethodId.ConnectionCloseOk });
          this.#finishClose();
        }
      }
      return;
    }
    if (s.kind === 'authenticating') {
      // The client must wait for connection.tune (or the refusal).
      throw connectionError(COMMAND_INVALID, 'frame received while the login is being checked');
    }
    switch (type) {
      case FRAME_METHOD: {
        if (channelId !== 0 && isBasicPublish(buf, start, end)) {
          const p = decodeBasicPublish(buf, this.#exchangeNames, this.#routingKeys, start, end);
          if (p !== undefined) {
            this.#onChannelMethod(channelId, p);
            return;
          }
        }
        const m = decodeMethodFrameAt(this.#reader, buf, start, end);
        if (channelId === 0) this.#onConnectionMethod(m);
        else this.#onChannelMethod(channelId, m);
        return;
      }
      case FRAME_HEADER:
      case FRAME_BODY: {
        if (channelId === 0) {
          throw connectionError(UNEXPECTED_FRAME, 'content frame on channel 0');
        }
        const ch = this.#channels.get(channelId);
        // A channel that was never opened expects channel.open: RabbitMQ's 505, not 504.
        if (ch === undefined) {
          throw connectionError(UNEXPECTED_FRAME, 'expected method frame, got non method frame instead');
        }
        try {
          if (type === FRAME_HEADER) ch.handleHeader(buf, start, end);
          else ch.handleBody(buf, start, end);
        } catch (err) {
          this.#channelFailed(ch, err);
        }
        return;
      }
      case FRAME_HEARTBEAT:
        // RabbitMQ answers a heartbeat on a non-zero channel with 505.
        if (channelId !== 0)
          throw connectionError(UNEXPECTED_FRAME, `heartbeat frame on channel ${channelId}`);
        if (end !== start) throw connectionError(FRAME_ERROR, 'heartbeat frame with a payload');
        return;
      default:
        throw connectionError(FRAME_ERROR, `unknown frame type ${type}`);
    }
  };

  #onConnectionMethod(m: AmqpMethod): void {
    const s = this.#state;
    switch (s.kind) {
      case 'awaiting-start-ok':
        if (m.id !== MethodId.ConnectionStartOk) throw this.#unexpected(m, 'connection.start-ok');
        this.#onStartOk(m.clientProperties, m.mechanism, m.response);
        return;
      case 'awaiting-tune-ok':
        if (m.id !== MethodId.ConnectionTuneOk) throw this.#unexpected(m, 'connection.tune-ok');
        this.#onTuneOk(m.channelMax, m.frameMax, m.heartbeat);
        this.#state = { kind: 'awaiting-open', user: s.user };
        return;
      case 'awaiting-open': {
        if (m.id !== MethodId.ConnectionOpen) throw this.#unexpected(m, 'connection.open');
        const vhost = this.#settings.vhosts.get(m.virtualHost);
        if (vhost === undefined) {
          throw connectionError(NOT_ALLOWED, `vhost ${m.virtualHost} not found`, {
            classId: ClassId.Connection,
            methodId: 40,
          });
        }
        const username = s.user.name;
        if (!this.#settings.permissions.canAccessVhost(username, vhost.name)) {
          this.log.info({ user: username, vhost: vhost.name }, 'vhost access refused');
          throw connectionError(
            NOT_ALLOWED,
            `access to vhost '${vhost.name}' refused for user '${username}'`,
            { classId: ClassId.Connection, methodId: 40 },
          );
        }
        const max = this.#settings.maxConnections;
        if (max > 0 && this.#settings.openConnectionCount() >= max) {
          // RabbitMQ's text for its vhost connection limit (its node-wide connection_max answers nothing:
          // it stops accepting sockets).
          throw connectionError(
            NOT_ALLOWED,
            `access to vhost '${vhost.name}' refused for user '${username}': connection limit (${max}) is reached`,
            { classId: ClassId.Connection, methodId: 40 },
          );
        }
        this.#state = {
          kind: 'open',
          user: s.user,
          vhost,
          access: new ResourceAccess(
            this.#settings.permissions,
            username,
            vhost.name,
            this.#settings.topicPermissions,
          ),
        };
        if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
        this.#deadlineTimer = undefined;
        this.sendMethod(0, { id: MethodId.ConnectionOpenOk, knownHosts: '' });
        this.log.debug({ user: username, vhost: vhost.name }, 'connection open');
        return;
      }
      case 'open':
        switch (m.id) {
          case MethodId.ConnectionClose:
            this.log.debug(
              { replyCode: m.replyCode, replyText: m.replyText },
              'client closed the connection',
            );
            this.sendMethod(0, { id: MethodId.ConnectionCloseOk });
            this.#finishClose();
            return;
          case MethodId.ConnectionCloseOk:
            return;
          case MethodId.ConnectionUpdateSecret:
            // The secret is not used by PLAIN/AMQPLAIN sessions once open; acknowledge it.
            this.sendMethod(0, { id: MethodId.ConnectionUpdateSecretOk });
            return;
          default:
            throw connectionError(COMMAND_INVALID, `method ${methodName(m.id)} is not allowed on channel 0`, {
              classId: m.id >>> 16,
              methodId: m.id & 0xffff,
            });
        }
      case 'awaiting-header':
      case 'authenticating':
      case 'closing':
      case 'closed':
        return;
      default: {
        const unreachable: never = s;
        throw connectionError(INTERNAL_ERROR, `unhandled state ${JSON.stringify(unreachable)}`);
      }
    }
  }

  #onStartOk(clientProperties: FieldTable, mechanism: string, response: Buffer): void {
    this.#clientProvidedName = fieldString(clientProperties.get('connection_name'));
    const caps = clientProperties.get('capabilities');
    if (caps?.type === 'table') {
      this.consumerCancelNotify = fieldBoolean(caps.value.get('consumer_cancel_notify')) === true;
      this.#authFailureClose = fieldBoolean(caps.value.get('authentication_failure_close')) === true;
      this.#blockedNotify = fieldBoolean(caps.value.get('connection.blocked')) === true;
    }
    if (!isSaslMechanism(mechanism)) {
      throw connectionError(COMMAND_INVALID, `unknown authentication mechanism '${mechanism}'`, {
        classId: ClassId.Connection,
        methodId: 11,
      });
    }
    const creds = parseSaslResponse(mechanism, response);
    if (creds === undefined) {
      this.#refuseLogin(mechanism, undefined, 'malformed response');
      return;
    }
    this.#state = { kind: 'authenticating' };
    // bcrypt verification is asynchronous (it yields to other connections); frames meanwhile are errors.
    this.#settings.users.authenticate(creds.username, creds.password).then(
      (user) => {
        if (this.#state.kind !== 'authenticating') return;
        try {
          this.#loggedIn(mechanism, creds.username, user);
        } catch (err) {
          this.#fail(err);
        }
        this.#flush();
      },
      (err: unknown) => {
        if (this.#state.kind === 'authenticating') this.#fail(err);
      },
    );
  }

  #loggedIn(mechanism: SaslMechanism, username: string, user: User | undefined): void {
    if (user === undefined) {
      this.#refuseLogin(mechanism, username, 'invalid credentials');
      return;
    }
    if (this.#settings.loopbackUsers.has(user.name)) {
      if (!isLoopbackAddress(this.#socket.remoteAddress)) {
        this.#refuseLogin(mechanism, username, 'user can only connect via localhost');
        return;
      }
    }
    this.#username = user.name;
    this.#state = { kind: 'awaiting-tune-ok', user };
    this.sendMethod(0, {
      id: MethodId.ConnectionTune,
      channelMax: this.#settings.channelMax,
      frameMax: this.#settings.frameMax,
      heartbeat: this.#settings.heartbeatSeconds,
    });
  }

  /**
   * A refused login. RabbitMQ tells clients with the `authentication_failure_close` capability why with
   * connection.close 403 (the same text whatever the reason: the details are in the log only) and drops
   * the socket of the others.
   */
  #refuseLogin(mechanism: string, username: string | undefined, reason: string): void {
    this.log.info({ user: username, mechanism, reason }, 'login refused');
    const err = connectionError(
      ACCESS_REFUSED,
      `Login was refused using authentication mechanism ${mechanism}. For details see the broker logfile.`,
      // RabbitMQ names no method (0/0) in this close.
    );
    // #closeWith needs a state it can leave; the handshake states all can.
    this.#state = { kind: 'awaiting-start-ok' };
    if (this.#authFailureClose) this.#closeWith(err);
    else this.destroy();
  }

  #onTuneOk(channelMax: number, frameMax: number, heartbeat: number): void {
    const serverFrameMax = this.#settings.frameMax;
    if (frameMax !== 0 && frameMax < FRAME_MIN_SIZE) {
      throw connectionError(NOT_ALLOWED, `frame_max=${frameMax} < ${FRAME_MIN_SIZE} min size`, {
        classId: ClassId.Connection,
        methodId: 31,
      });
    }
    if (serverFrameMax !== 0 && frameMax > serverFrameMax) {
      throw connectionError(NOT_ALLOWED, `frame_max=${frameMax} > ${serverFrameMax} max size`, {
        classId: ClassId.Connection,
        methodId: 31,
      });
    }
    const serverChannelMax = this.#settings.channelMax;
    if (serverChannelMax !== 0 && channelMax > serverChannelMax) {
      throw connectionError(
        NOT_ALLOWED,
        `negotiated channel_max = ${channelMax} is higher than the maximum allowed value (${serverChannelMax})`,
        { classId: ClassId.Connection, methodId: 31 },
      );
    }
    this.#frameMax = frameMax === 0 ? serverFrameMax : frameMax;
    this.#parser.frameMax = this.#frameMax;
    this.#channelMax = channelMax === 0 ? (serverChannelMax === 0 ? 65535 : serverChannelMax) : channelMax;
    this.#heartbeatSeconds = heartbeat;
    if (heartbeat > 0) this.#startHeartbeats(heartbeat);
  }

  #onChannelMethod(channelId: number, m: AmqpMethod): void {
    if (this.#state.kind !== 'open') {
      throw connectionError(
        COMMAND_INVALID,
        `method ${methodName(m.id)} on channel ${channelId} before connection.open`,
        {
          classId: m.id >>> 16,
          methodId: m.id & 0xffff,
        },
      );
    }
    let ch = this.#channels.get(channelId);
    if (ch === undefined) {
      if (m.id !== MethodId.ChannelOpen) {
        throw connectionError(
          CHANNEL_ERROR,
          `expected 'channel.open' on channel ${channelId}, got ${methodName(m.id)}`,
          {
            classId: m.id >>> 16,
            methodId: m.id & 0xffff,
          },
        );
      }
      if (channelId > this.#channelMax) {
        throw connectionError(
          NOT_ALLOWED,
          `channel ${channelId} exceeds the negotiated channel_max (${this.#channelMax})`,
          { classId: ClassId.Channel, methodId: 10 },
        );
      }
      ch = new Channel(channelId, this);
      this.#channels.set(channelId, ch);
      this.sendMethod(channelId, { id: MethodId.ChannelOpenOk, channelId: Buffer.alloc(0) });
      return;
    }
    try {
      ch.handleMethod(m);
    } catch (err) {
      this.#channelFailed(ch, err);
    }
    if (ch.state === 'closed') {
      this.#channels.delete(channelId);
      this.#confirmChannels.delete(ch);
    }
  }

  /** An error while a channel handled a frame: soft errors close the channel, others go up. */
  #channelFailed(ch: Channel, err: unknown): void {
    if (AmqpError.isAmqpError(err) && err.scope === 'channel') {
      ch.closeWithError(err);
      return;
    }
    throw err;
  }

  #unexpected(m: AmqpMethod, expected: string): AmqpError {
    return connectionError(COMMAND_INVALID, `expected '${expected}', got '${methodName(m.id)}'`, {
      classId: m.id >>> 16,
      methodId: m.id & 0xffff,
    });
  }

  /** Anything thrown while handling input ends here: close the connection, never the process. */
  #fail(err: unknown): void {
    if (AmqpError.isAmqpError(err)) {
      this.#closeWith(err);
      return;
    }
    this.log.error({ err }, 'internal error while handling a frame');
    this.#closeWith(connectionError(INTERNAL_ERROR, 'internal error'));
  }

  /** Sends connection.close and waits for close-ok (or the close timeout). */
  #closeWith(err: AmqpError): void {
    const s = this.#state;
    if (s.kind === 'closing' || s.kind === 'closed') return;
    this.log.debug({ replyCode: err.replyCode, err }, 'closing connection');
    const vhost = s.kind === 'open' ? s.vhost : undefined;
    // Channels stop at once; their unacked messages go back to their queues.
    this.#teardownChannels();
    this.#state = { kind: 'closing', vhost };
    this.#stopPausing();
    this.sendMethod(0, {
      id: MethodId.ConnectionClose,
      replyCode: err.replyCode,
      replyText: err.replyText,
      classId: err.classId,
      methodId: err.methodId,
    });
    this.#flush();
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = setTimeout(() => this.destroy(), this.#settings.closeTimeoutMs);
    this.#deadlineTimer.unref();
  }

  /** The close handshake finished: flush, release, end the socket. */
  #finishClose(): void {
    this.#flush();
    this.#teardown();
    this.#socket.end();
  }

  // ---- heartbeats --------------------------------------------------------------------------------

  #startHeartbeats(seconds: number): void {
    const intervalMs = (seconds * 1000) / 2;
    this.#heartbeatTimer = setInterval(() => {
      // While we do not read the socket, the client's heartbeats wait in it.
      if (this.#readPaused !== 0) this.#lastReceivedAt = Date.now();
      if (Date.now() - this.#lastReceivedAt > seconds * 2 * 1000) {
        this.log.info({ heartbeatSeconds: seconds }, 'missed heartbeats from client, closing');
        this.destroy();
        return;
      }
      if (!this.#sentSinceTick) {
        writeHeartbeatFrame(this.#out);
        this.#flush();
      }
      this.#sentSinceTick = false;
    }, intervalMs);
    this.#heartbeatTimer.unref();
  }

  // ---- output ------------------------------------------------------------------------------------

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(this.#flushFromTimer);
  }

  readonly #flushFromTimer = (): void => {
    this.#flushScheduled = false;
    this.#flushConfirms();
    this.#flush();
  };

  #flush(): void {
    if (this.#out.length === 0) return;
    if (this.#socket.destroyed || !this.#socket.writable) {
      this.#out.reset();
      return;
    }
    const ok = this.#socket.write(this.#out.take());
    this.#sentSinceTick = true;
    if (!ok) this.#socketBlocked = true;
    else if (this.#starved) this.#resumeConsumers();
  }

  #onDrain(): void {
    this.#socketBlocked = false;
    if (this.#starved) this.#resumeConsumers();
  }

  #resumeConsumers(): void {
    this.#starved = false;
    for (const ch of this.#channels.values()) ch.resume();
  }

  // ---- teardown ----------------------------------------------------------------------------------

  #teardownChannels(): void {
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    this.#confirmChannels.clear();
    for (const ch of channels) {
      try {
        ch.teardown();
      } catch (err) {
        this.log.error({ err, channel: ch.id }, 'channel teardown failed');
      }
    }
  }

  #teardown(): void {
    const s = this.#state;
    if (s.kind === 'closed') return;
    const vhost = s.kind === 'open' ? s.vhost : s.kind === 'closing' ? s.vhost : undefined;
    this.#state = { kind: 'closed' };
    this.#stopAlarm();
    this.#stopPausing();
    this.#teardownChannels();
    try {
      vhost?.releaseOwner(this);
    } catch (err) {
      this.log.error({ err }, 'releasing exclusive queues failed');
    }
    if (this.#heartbeatTimer !== undefined) clearInterval(this.#heartbeatTimer);
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    this.#heartbeatTimer = undefined;
    this.#deadlineTimer = undefined;
  }

  #onSocketClose(): void {
    this.#teardown();
    this.#onClosed(this);
    this.#resolveClosed();
  }

  /** Negotiated heartbeat interval in seconds (0: off). */
  get heartbeatSeconds(): number {
    return this.#heartbeatSeconds;
  }

  /** Negotiated channel_max. */
  get channelMax(): number {
    return this.#channelMax;
  }

  /** Reports whether the connection reached `open` (for logs and tests). */
  get isOpen(): boolean {
    return this.#state.kind === 'open';
  }
}
