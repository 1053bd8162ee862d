/**
 * One connection to one beanstalkd server, wrapping fivebeans (callback API, no timeouts, no reconnect) in a
 * typed promise API that closes its gaps:
 *
 *   idle ──connect()──▶ connecting ──socket up, use/watch replayed──▶ ready
 *                          ▲   │ error                                 │ error / close / command timeout
 *                          │   ▼                                       ▼
 *                          └─ reconnecting (backoff) ◀─────────────────┘
 *   any ──close()──▶ closed (pending calls fail with DSP_PUSH_CLOSED)
 *
 * - every command has a deadline; a command without a reply resets the connection, because fivebeans matches
 *   replies to callbacks in order and a lost reply would shift every later one;
 * - a dropped connection fails all pending commands at once (`DSP_PUSH_BEANSTALK_DISCONNECTED`), then
 *   reconnects with backoff and replays `use` and `watch` so callers keep their tube state;
 * - commands that depend on the tube in use (`put`, `kick`, `peek*`) take a `tube` and send `use` + the command
 *   back to back, so concurrent callers on one connection cannot interleave;
 * - commands issued in one event-loop turn leave in one write (the socket is corked until `setImmediate`), so
 *   a burst of puts, or the deletes of several finished pushes with the reserves that replace them, cost one
 *   syscall instead of one each (writes to loopback sockets dominated the gateway's CPU profile);
 * - received bytes are only joined once a reply is complete: fivebeans copies its whole buffer on every
 *   chunk and parses again from the start, which is quadratic in the size of a large job.
 *
 * A reserved job belongs to the connection that reserved it (`touch`/`release`/`bury` work only there), and a
 * `reserve` blocks its connection: use separate instances for reserving and for other commands.
 */

import type { Socket } from 'node:net';
import { abortReason, type Logger, noopLogger } from '@dispatcher/core';
import fivebeans, { type FiveBeansClient } from 'fivebeans';
import { PushError, type PushErrorCode } from '../errors.js';
import type {
  BeanstalkClientApi,
  BeanstalkConnectionState,
  BeanstalkJob,
  CallOptions,
  PutOptions,
  TubeOption,
  TubeStats,
} from './beanstalk-types.js';

/** Options of {@link BeanstalkClient}. */
export interface BeanstalkClientOptions {
  /** Server host. @defaultValue '127.0.0.1' */
  host?: string;
  /** Server port. @defaultValue 11300 */
  port?: number;
  /** Deadline of one command (reserve: its own timeout plus this), in milliseconds. @defaultValue 5000 */
  commandTimeoutMs?: number;
  /** First reconnect delay in milliseconds; doubles per failed attempt. @defaultValue 100 */
  reconnectMinDelayMs?: number;
  /** Longest reconnect delay in milliseconds. @defaultValue 3000 */
  reconnectMaxDelayMs?: number;
  /** Logger; a child with `beanstalkd: host:port` is made. @defaultValue noopLogger */
  logger?: Logger;
}

/** Defaults of {@link BeanstalkClientOptions}. */
export const BEANSTALK_CLIENT_DEFAULTS = {
  host: '127.0.0.1',
  port: 11300,
  commandTimeoutMs: 5_000,
  reconnectMinDelayMs: 100,
  reconnectMaxDelayMs: 3_000,
} as const;

/** beanstalkd's default priority, used by the original for every put (lower is more urgent). */
export const DEFAULT_PRIORITY = 1024;
/** The original's time-to-run of every put, in seconds. */
export const DEFAULT_TTR_SEC = 60;

type Callback = (err: string | null, ...results: unknown[]) => void;
type Step = (conn: FiveBeansClient, cb: Callback) => void;

interface Pending {
  /** Send order on this client. */
  readonly seq: number;
  fail(err: Error): void;
  /** Called once the command has its answer (or failed). */
  onSettled?: () => void;
}

const REPLY_CODES: Record<string, PushErrorCode> = {
  NOT_FOUND: 'DSP_PUSH_BEANSTALK_NOT_FOUND',
  JOB_TOO_BIG: 'DSP_PUSH_BEANSTALK_JOB_TOO_BIG',
  DRAINING: 'DSP_PUSH_BEANSTALK_DRAINING',
};

const NO_JOB_REPLIES: ReadonlySet<string> = new Set(['TIMED_OUT', 'DEADLINE_SOON']);
const CRLF = Buffer.from('\r\n');
const BODY_REPLY = /^(?:RESERVED \d+|FOUND \d+|OK) (\d+)$/;

/**
 * How many bytes `buffer` must hold before the first reply in it is complete: header + body + CRLF for a reply
 * with a body, 0 (parse now) when the header is incomplete or carries no body.
 */
function bytesForFirstReply(buffer: Buffer | undefined): number {
  if (!buffer || buffer.length === 0) return 0;
  const eol = buffer.indexOf(CRLF);
  if (eol < 0) return 0;
  const m = BODY_REPLY.exec(buffer.toString('latin1', 0, eol));
  return m ? eol + 2 + Number(m[1]) + 2 : 0;
}

/**
 * Replaces fivebeans' `data` handler (which concatenates its whole buffer with every chunk and reparses it):
 * chunks are collected until the reply at the head is complete, then joined once and handed to fivebeans'
 * own reply matching.
 */
function bufferRepliesLinearly(conn: FiveBeansClient, stream: Socket): void {
  stream.removeAllListeners('data');
  let chunks: Buffer[] = [];
  let queued = 0;
  let need = 0;
  stream.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    queued += chunk.length;
    const held = conn.buffer?.length ?? 0;
    if (held + queued < need) return;
    if (held > 0) chunks.unshift(conn.buffer as Buffer);
    conn.buffer = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    chunks = [];
    queued = 0;
    conn.tryHandlingResponse();
    need = bytesForFirstReply(conn.buffer);
  });
}

/** The coded error for a beanstalkd error reply such as `NOT_FOUND`. */
function replyError(reply: string, command: string): PushError {
  const code = REPLY_CODES[reply] ?? 'DSP_PUSH_BEANSTALK_REPLY';
  return new PushError(code, `beanstalkd answered ${reply} to ${command}`);
}

export class BeanstalkClient implements BeanstalkClientApi {
  readonly address: string;
  readonly #host: string;
  readonly #port: number;
  readonly #commandTimeoutMs: number;
  readonly #minDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #log: Logger;

  #state: BeanstalkConnectionState = 'idle';
  #conn: FiveBeansClient | undefined;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #waiters = new Set<{ resolve(): void; reject(err: Error): void }>();
  #pending = new Set<Pending>();
  #seq = 0;
  // Tube state to replay after a reconnect: what the caller asked for, not what the server saw last.
  #used = 'default';
  #watched = new Set<string>(['default']);
  /** The socket corked until the next tick, if any (see {@link #coalesceWrites}). */
  #corked: Socket | undefined;

  constructor(options: BeanstalkClientOptions = {}) {
    this.#host = options.host ?? BEANSTALK_CLIENT_DEFAULTS.host;
    this.#port = options.port ?? BEANSTALK_CLIENT_DEFAULTS.port;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? BEANSTALK_CLIENT_DEFAULTS.commandTimeoutMs;
    this.#minDelayMs = options.reconnectMinDelayMs ?? BEANSTALK_CLIENT_DEFAULTS.reconnectMinDelayMs;
    this.#maxDelayMs = options.reconnectMaxDelayMs ?? BEANSTALK_CLIENT_DEFAULTS.reconnectMaxDelayMs;
    this.address = `${this.#host}:${this.#port}`;
    this.#log = (options.logger ?? noopLogger).child({ beanstalkd: this.address });
  }

  get state(): BeanstalkConnectionState {
    return this.#state;
  }

  /** Tubes this connection watches (replayed after a reconnect). */
  get watchedTubes(): readonly string[] {
    return [...this.#watched];
  }

  connect(options: CallOptions = {}): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(this.#closedError());
    if (this.#state === 'idle') this.#open();
    return this.#waitReady(this.#commandTimeoutMs, options.signal);
  }

  async put(
    payload: Uint8Array | string,
    options: PutOptions & TubeOption & CallOptions = {},
  ): Promise<number> {
    const body =
      typeof payload === 'string'
        ? Buffer.from(payload)
        : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const priority = options.priority ?? DEFAULT_PRIORITY;
    const delaySec = Math.max(0, Math.floor(options.delaySec ?? 0));
    const ttrSec = Math.max(1, Math.floor(options.ttrSec ?? DEFAULT_TTR_SEC));
    const [id] = await this.#run(
      'put',
      [...this.#useStep(options.tube), (c, cb) => c.put(priority, delaySec, ttrSec, body, cb)],
      options,
    );
    return Number(id);
  }

  async use(tube: string, options: CallOptions = {}): Promise<void> {
    await this.#run('use', [(c, cb) => c.use(tube, cb)], options);
    this.#used = tube;
  }

  async watch(tube: string, options: CallOptions = {}): Promise<number> {
    const [count] = await this.#run('watch', [(c, cb) => c.watch(tube, cb)], options);
    this.#watched.add(tube);
    return Number(count);
  }

  async ignore(tube: string, options: CallOptions = {}): Promise<number> {
    const [count] = await this.#run('ignore', [(c, cb) => c.ignore(tube, cb)], options);
    this.#watched.delete(tube);
    return Number(count);
  }

  async reserve(timeoutSec: number, options: CallOptions = {}): Promise<BeanstalkJob | undefined> {
    const seconds = Math.max(0, Math.floor(timeoutSec));
    const results = await this.#run('reserve', [(c, cb) => c.reserve_with_timeout(seconds, cb)], {
      ...options,
      timeoutMs: seconds * 1000 + this.#commandTimeoutMs,
      // An abandoned reserve could still take a job nobody handles until its TTR: drop the connection.
      resetOnAbort: true,
      // TIMED_OUT: no job; DEADLINE_SOON: a job of ours nears its TTR, the caller should touch it. Answers, not
      // errors: a busy sender polls with timeout 0 and must not build an error (and its stack) per empty poll.
      softReplies: NO_JOB_REPLIES,
    });
    if (results.length === 0) return undefined;
    const [id, payload] = results;
    return { id: Number(id), payload: payload as Buffer };
  }

  async delete(jobId: number, options: CallOptions = {}): Promise<void> {
    await this.#run('delete', [(c, cb) => c.destroy(jobId, cb)], options);
  }

  async release(
    jobId: number,
    options: { priority?: number; delaySec?: number } & CallOptions = {},
  ): Promise<void> {
    const priority = options.priority ?? DEFAULT_PRIORITY;
    const delaySec = Math.max(0, Math.floor(options.delaySec ?? 0));
    await this.#run('release', [(c, cb) => c.release(jobId, priority, delaySec, cb)], options);
  }

  async bury(jobId: number, options: { priority?: number } & CallOptions = {}): Promise<void> {
    await this.#run('bury', [(c, cb) => c.bury(jobId, options.priority ?? DEFAULT_PRIORITY, cb)], options);
  }

  async touch(jobId: number, options: CallOptions = {}): Promise<void> {
    await this.#run('touch', [(c, cb) => c.touch(jobId, cb)], options);
  }

  async kick(bound: number, options: TubeOption & CallOptions = {}): Promise<number> {
    const [count] = await this.#run(
      'kick',
      [...this.#useStep(options.tube), (c, cb) => c.kick(bound, cb)],
      options,
    );
    return Number(count);
  }

  async kickJob(jobId: number, options: CallOptions = {}): Promise<void> {
    await this.#run('kick-job', [(c, cb) => c.kick_job(jobId, cb)], options);
  }

  async statsTube(tube: string, options: CallOptions = {}): Promise<TubeStats | undefined> {
    try {
      const [stats] = await this.#run('stats-tube', [(c, cb) => c.stats_tube(tube, cb)], options);
      const out = { ...(stats as Record<string, string | number>) };
      // js-yaml turns an all-digit tube name into a number.
      out.name = String(out.name);
      return out as TubeStats;
    } catch (err) {
      if (PushError.hasCode(err, 'DSP_PUSH_BEANSTALK_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  async listTubes(options: CallOptions = {}): Promise<string[]> {
    const [tubes] = await this.#run('list-tubes', [(c, cb) => c.list_tubes(cb)], options);
    return Array.isArray(tubes) ? tubes.map(String) : [];
  }

  peekBuried(options: TubeOption & CallOptions = {}): Promise<BeanstalkJob | undefined> {
    return this.#peek('peek-buried', (c, cb) => c.peek_buried(cb), options);
  }

  peekReady(options: TubeOption & CallOptions = {}): Promise<BeanstalkJob | undefined> {
    return this.#peek('peek-ready', (c, cb) => c.peek_ready(cb), options);
  }

  close(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    this.#state = 'closed';
    clearTimeout(this.#reconnectTimer);
    const err = this.#closedError();
    this.#failAll(err);
    for (const w of this.#waiters) w.reject(err);
    this.#waiters.clear();
    const conn = this.#conn;
    this.#conn = undefined;
    if (!conn?.stream || conn.stream.destroyed) return Promise.resolve();
    const stream = conn.stream;
    return new Promise<void>((resolve) => {
      stream.once('close', () => resolve());
      stream.end();
      // A server that does not close its side must not hold us up.
      setTimeout(() => {
        stream.destroy();
        resolve();
      }, 1_000).unref();
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #peek(
    command: string,
    step: Step,
    options: TubeOption & CallOptions,
  ): Promise<BeanstalkJob | undefined> {
    try {
      const [id, payload] = await this.#run(command, [...this.#useStep(options.tube), step], options);
      return { id: Number(id), payload: payload as Buffer };
    } catch (err) {
      if (PushError.hasCode(err, 'DSP_PUSH_BEANSTALK_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  #useStep(tube: string | undefined): Step[] {
    if (tube === undefined) return [];
    return [
      (c, cb) => {
        // Decided when the step is sent, not when the call was made: `#used` is what the wire has then
        // (steps go out in order, and a reconnect replays it), so a repeat `use` is skipped safely.
        if (this.#used === tube) {
          cb(null);
          return;
        }
        this.#used = tube;
        c.use(tube, cb);
      },
    ];
  }

  /**
   * Sends `steps` back to back (same tick, so nothing interleaves on the wire) once the connection is ready;
   * resolves the results of the last step.
   */
  async #run(
    command: string,
    steps: Step[],
    options: CallOptions & {
      timeoutMs?: number;
      resetOnAbort?: boolean;
      /** Error replies of the last step that resolve with no results instead of failing. */
      softReplies?: ReadonlySet<string>;
    },
  ): Promise<unknown[]> {
    if (this.#state === 'closed') throw this.#closedError();
    if (options.signal?.aborted) throw abortReason(options.signal);
    if (this.#state === 'idle') this.#open();
    const timeoutMs = options.timeoutMs ?? this.#commandTimeoutMs;
    if (this.#state !== 'ready') await this.#waitReady(this.#commandTimeoutMs, options.signal);
    const conn = this.#conn;
    if (!conn) throw new PushError('DSP_PUSH_BEANSTALK_DISCONNECTED', `not connected to ${this.address}`);

    return new Promise<unknown[]>((resolve, reject) => {
      let settled = false;
      const signal = options.signal;
      const finish = (err: Error | undefined, results?: unknown[]) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(pending);
        pending.onSettled?.();
        if (err) reject(err);
        else resolve(results ?? []);
      };
      const pending: Pending = { seq: this.#seq++, fail: (err) => finish(err) };
      const timer = setTimeout(() => {
        finish(
          new PushError(
            'DSP_PUSH_BEANSTALK_TIMEOUT',
            `${command} on ${this.address} got no reply within ${timeoutMs} ms`,
          ),
        );
        this.#reset(conn, 'command timeout');
      }, timeoutMs);
      const onAbort = () => {
        finish(abortReason(signal as AbortSignal));
        if (options.resetOnAbort) this.#resetAfter(pending.seq, conn, `${command} aborted`);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.add(pending);
      this.#coalesceWrites(conn);

      let failed: Error | undefined;
      steps.forEach((step, index) => {
        const last = index === steps.length - 1;
        step(conn, (err, ...results) => {
          if (last && err !== null && err !== undefined && options.softReplies?.has(String(err))) {
            finish(failed, []);
            return;
          }
          if (err !== null && err !== undefined) {
            const e = replyError(String(err), command);
            Object.assign(e, { reply: String(err) });
            failed ??= e;
          }
          if (last) finish(failed, results);
        });
      });
    });
  }

  /** Holds this event-loop turn's writes in the socket and sends them together once its I/O is handled. */
  #coalesceWrites(conn: FiveBeansClient): void {
    const stream = conn.stream;
    if (!stream || this.#corked === stream) return;
    this.#corked = stream;
    stream.cork();
    setImmediate(() => {
      if (this.#corked === stream) this.#corked = undefined;
      stream.uncork();
    });
  }

  #waitReady(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#state === 'ready') return Promise.resolve();
    if (this.#state === 'closed') return Promise.reject(this.#closedError());
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          cleanup();
          resolve();
        },
        reject: (err: Error) => {
          cleanup();
          reject(err);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.reject(
            new PushError(
              'DSP_PUSH_BEANSTALK_DISCONNECTED',
              `${this.address} not reachable within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      const onAbort = () => waiter.reject(abortReason(signal as AbortSignal));
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiters.delete(waiter);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  #open(): void {
    if (this.#state === 'closed') return;
    this.#state = this.#attempt === 0 ? 'connecting' : 'reconnecting';
    const conn = new fivebeans.client(this.#host, this.#port);
    this.#conn = conn;
    let down = false;
    const onDown = (err?: unknown) => {
      if (down) return;
      down = true;
      if (this.#conn !== conn) return;
      this.#conn = undefined;
      if (this.#state === 'closed') return;
      this.#log.warn({ err }, 'beanstalkd connection lost');
      this.#failAll(
        new PushError('DSP_PUSH_BEANSTALK_DISCONNECTED', `connection to ${this.address} lost`, {
          cause: err instanceof Error ? err : undefined,
        }),
      );
      this.#scheduleReconnect();
    };
    conn.on('error', onDown);
    conn.on('close', () => onDown());
    conn.on('connect', () => {
      conn.stream?.setNoDelay(true);
      this.#replay(conn);
    });
    conn.connect();
    if (conn.stream) bufferRepliesLinearly(conn, conn.stream);
  }

  /** Replays `use`/`watch`/`ignore default`; the connection is ready when the last reply arrives. */
  #replay(conn: FiveBeansClient): void {
    const steps: Step[] = [];
    if (this.#used !== 'default') {
      const tube = this.#used;
      steps.push((c, cb) => c.use(tube, cb));
    }
    for (const tube of this.#watched) if (tube !== 'default') steps.push((c, cb) => c.watch(tube, cb));
    if (!this.#watched.has('default') && this.#watched.size > 0)
      steps.push((c, cb) => c.ignore('default', cb));
    const done = (err: string | null) => {
      if (this.#conn !== conn || this.#state === 'closed') return;
      if (err) {
        this.#reset(conn, `replay failed: ${err}`);
        return;
      }
      this.#attempt = 0;
      this.#state = 'ready';
      this.#log.debug({ used: this.#used, watched: [...this.#watched] }, 'beanstalkd connection ready');
      for (const w of [...this.#waiters]) w.resolve();
    };
    if (steps.length === 0) {
      done(null);
      return;
    }
    const timer = setTimeout(() => this.#reset(conn, 'replay timeout'), this.#commandTimeoutMs);
    let firstErr: string | null = null;
    for (const [i, step] of steps.entries()) {
      step(conn, (err) => {
        firstErr ??= err;
        if (i === steps.length - 1) {
          clearTimeout(timer);
          done(firstErr);
        }
      });
    }
  }

  /**
   * Resets once every command sent before `seq` has its answer: a `delete` pipelined ahead of an abandoned
   * `reserve` is answered at once by the server, and failing it instead would push its job a second time.
   */
  #resetAfter(seq: number, conn: FiveBeansClient, reason: string): void {
    const ahead = [...this.#pending].filter((p) => p.seq < seq);
    let left = ahead.length;
    if (left === 0) {
      this.#reset(conn, reason);
      return;
    }
    for (const p of ahead)
      p.onSettled = () => {
        left -= 1;
        if (left === 0) this.#reset(conn, reason);
      };
  }

  #reset(conn: FiveBeansClient, reason: string): void {
    if (this.#conn !== conn) return;
    this.#log.warn({ reason }, 'resetting beanstalkd connection');
    conn.emit('close');
    conn.stream?.destroy();
  }

  #scheduleReconnect(): void {
    this.#state = 'reconnecting';
    const base = Math.min(this.#maxDelayMs, this.#minDelayMs * 2 ** Math.min(this.#attempt, 16));
    this.#attempt += 1;
    // Jitter so a fleet does not reconnect in lockstep after a server restart.
    const wait = base / 2 + Math.random() * (base / 2);
    this.#reconnectTimer = setTimeout(() => this.#open(), wait);
    this.#reconnectTimer.unref();
  }

  #failAll(err: Error): void {
    for (const p of [...this.#pending]) p.fail(err);
  }

  #closedError(): PushError {
    return new PushError('DSP_PUSH_CLOSED', `beanstalkd client for ${this.address} is closed`);
  }
}
