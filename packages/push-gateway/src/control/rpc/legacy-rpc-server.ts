import { createServer, type Server, type Socket } from 'node:net';
import { DispatcherError, type Logger, noopLogger } from '@dispatcher/core';
import { PushError } from '../../errors.js';
import type { RpcCommand } from './rpc-commands.js';
import { encodeRpcResponse, RpcFrameReader } from './rpc-frame.js';

/** Options of {@link LegacyRpcServer}. */
export interface LegacyRpcServerOptions {
  /** Address to listen on (the original's `ListenAddr` host). @defaultValue `'127.0.0.1'` */
  host?: string;
  /** Port; 0 picks a free one. @defaultValue `5601` (the original's `ListenAddr` port) */
  port?: number;
  /** Connections beyond this are answered `failed` and closed. @defaultValue `15000` */
  maxConnections?: number;
  /** A connection with no request for this long is closed, in milliseconds. @defaultValue `120000` */
  idleTimeoutMs?: number;
  /** A started frame must complete within this, in milliseconds. @defaultValue `5000` */
  clientTimeoutMs?: number;
  /** A command that takes longer is answered `failed` ("Process timeout."), in milliseconds. @defaultValue `5000` */
  processTimeoutMs?: number;
  /** Largest request body accepted, in bytes. @defaultValue `1048576` */
  maxRequestBytes?: number;
  logger?: Logger;
}

/** Defaults of {@link LegacyRpcServerOptions}. */
export const LEGACY_RPC_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 5601,
  maxConnections: 15_000,
  idleTimeoutMs: 120_000,
  clientTimeoutMs: 5_000,
  processTimeoutMs: 5_000,
  maxRequestBytes: 1_048_576,
} as const;

const CLOSE = Buffer.from('CLOSE');

/**
 * The original's TCP control server, for control panels that call it: length-prefixed JSON requests
 * `{"cmd", "args"}` answered in order on each connection (see rpc-frame.ts for the bytes).
 */
export class LegacyRpcServer {
  readonly #commands: ReadonlyMap<string, RpcCommand>;
  readonly #opts: Required<Omit<LegacyRpcServerOptions, 'logger'>>;
  readonly #log: Logger;
  readonly #sockets = new Set<Socket>();
  readonly #busy = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  #server: Server | undefined;
  #closing: Promise<void> | undefined;

  constructor(commands: ReadonlyMap<string, RpcCommand>, options: LegacyRpcServerOptions = {}) {
    this.#commands = commands;
    const { logger, ...rest } = options;
    this.#opts = { ...LEGACY_RPC_SERVER_DEFAULTS, ...rest };
    this.#log = (logger ?? noopLogger).child({ component: 'legacy-rpc' });
  }

  /** The bound address after {@link start}. */
  get address(): { host: string; port: number } {
    const a = this.#server?.address();
    if (!a || typeof a === 'string')
      throw new PushError('DSP_PUSH_CLOSED', 'the RPC server is not listening');
    return { host: a.address, port: a.port };
  }

  async start(): Promise<{ host: string; port: number }> {
    if (this.#closing) throw new PushError('DSP_PUSH_CLOSED', 'the RPC server was closed');
    if (this.#server) return this.address;
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.port, this.#opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.#log.error({ err }, 'rpc server error'));
    this.#log.info(this.address, 'legacy rpc listening');
    return this.address;
  }

  /** Stops accepting, lets commands in progress answer, then closes every connection with "CLOSE". */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const server = this.#server;
      const closed = server
        ? new Promise<void>((resolve) => server.close(() => resolve()))
        : Promise.resolve();
      await Promise.allSettled([...this.#busy]);
      this.#abort.abort(new PushError('DSP_PUSH_CLOSED', 'the RPC server is closing'));
      for (const socket of this.#sockets) this.#hangUp(socket);
      await closed;
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #hangUp(socket: Socket): void {
    if (socket.destroyed) return;
    socket.end(CLOSE);
    // A client that never closes its side must not keep close() waiting.
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  #accept(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    if (this.#sockets.size >= this.#opts.maxConnections) {
      this.#log.warn({ max: this.#opts.maxConnections }, 'too many rpc connections');
      const msg = Buffer.from(`Too many connections, out of ${this.#opts.maxConnections}.\n`);
      socket.end(Buffer.concat([encodeRpcResponse('failed', msg), CLOSE]));
      return;
    }
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    const reader = new RpcFrameReader(this.#opts.maxRequestBytes);
    let working = false;
    let ended = false;
    const armTimer = () => {
      // Idle between requests; strict once a frame has started.
      socket.setTimeout(reader.buffered > 0 ? this.#opts.clientTimeoutMs : this.#opts.idleTimeoutMs);
    };
    armTimer();
    socket.on('timeout', () => {
      if (!working) this.#hangUp(socket);
    });
    socket.on('error', (err) => this.#log.debug({ err }, 'rpc connection error'));
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('end', () => {
      ended = true;
      if (!working) socket.end();
    });

    const pump = async (): Promise<void> => {
      if (working) return;
      working = true;
      try {
        for (;;) {
          let frame: ReturnType<RpcFrameReader['next']>;
          try {
            frame = reader.next();
          } catch (err) {
            this.#log.warn({ err, remote: socket.remoteAddress }, 'bad rpc frame');
            this.#hangUp(socket);
            return;
          }
          if (frame.type === 'partial') break;
          if (frame.type === 'close') {
            this.#hangUp(socket);
            return;
          }
          const reply = await this.#process(frame.body);
          if (socket.destroyed) return;
          socket.write(reply);
          if (this.#closing) {
            this.#hangUp(socket);
            return;
          }
        }
      } finally {
        working = false;
        armTimer();
        if (ended && !socket.destroyed) socket.end();
      }
    };

    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      armTimer();
      const run = pump();
      this.#busy.add(run);
      void run.finally(() => this.#busy.delete(run));
    });
  }

  async #process(body: Buffer): Promise<Buffer> {
    let cmd = '?';
    try {
      let request: unknown;
      try {
        request = JSON.parse(body.toString('utf8'));
      } catch (err) {
        throw new PushError('DSP_PUSH_RPC_BAD_FRAME', 'Failed to decode client data: not JSON', {
          cause: err,
        });
      }
      if (typeof request !== 'object' || request === null || Array.isArray(request)) {
        throw new PushError('DSP_PUSH_RPC_BAD_FRAME', "Illegal client request: expected {'cmd', 'args'}");
      }
      const r = request as Record<string, unknown>;
      if (typeof r.cmd !== 'string') {
        throw new PushError('DSP_PUSH_RPC_BAD_FRAME', "Illegal client request: 'cmd' must be a string");
      }
      cmd = r.cmd;
      // ClearDataCache is sent with "args": [] by some panels (the original's etcd bridge tolerated it).
      const args = Array.isArray(r.args) && r.args.length === 0 ? {} : r.args;
      if (typeof args !== 'object' || args === null || Array.isArray(args)) {
        throw new PushError('DSP_PUSH_RPC_BAD_FRAME', "Illegal client request: 'args' must be an object");
      }
      const command = this.#commands.get(cmd);
      if (!command) throw new PushError('DSP_PUSH_RPC_UNKNOWN_COMMAND', `Cmd handler "${cmd}" not exists!`);
      const result = await this.#withTimeout(command(args as Record<string, unknown>, this.#abort.signal));
      this.#log.debug({ cmd }, 'rpc command done');
      return encodeRpcResponse('ok', Buffer.from(JSON.stringify(result ?? null)));
    } catch (err) {
      this.#log.warn({ err, cmd }, 'rpc command failed');
      const text = DispatcherError.isInstance(err)
        ? `${err.code}: ${err.message}`
        : err instanceof Error
          ? err.message
          : String(err);
      return encodeRpcResponse('failed', Buffer.from(JSON.stringify(text)));
    }
  }

  async #withTimeout<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new PushError('DSP_PUSH_RPC_TIMEOUT', 'Process timeout.')),
        this.#opts.processTimeoutMs,
      );
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
