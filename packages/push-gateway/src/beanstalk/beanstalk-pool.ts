import { type Logger, noopLogger } from '@dispatcher/core';
import { PushError } from '../errors.js';
import { BeanstalkClient, type BeanstalkClientOptions } from './beanstalk-client.js';
import type { BeanstalkClientApi, PutOptions } from './beanstalk-types.js';

/** Options of {@link BeanstalkPool}. */
export interface BeanstalkPoolOptions {
  /** `host:port` of every server (`QueueServerAddr`, comma separated in the TOML). */
  addresses: readonly string[];
  /** Per-connection options (timeouts, reconnect backoff). */
  client?: Omit<BeanstalkClientOptions, 'host' | 'port' | 'logger'>;
  /** @defaultValue noopLogger */
  logger?: Logger;
}

/** Where a put landed. */
export interface PutResult {
  readonly address: string;
  readonly id: number;
}

/** Splits `host:port` (port defaults to 11300). */
export function parseServerAddress(address: string): { host: string; port: number } {
  const trimmed = address.trim();
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(trimmed);
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? 11300 : Number(match[3]);
  if (!host || port < 1 || port > 65535)
    throw new PushError('DSP_PUSH_INVALID_ARGUMENT', `not a beanstalkd address: ${JSON.stringify(address)}`);
  return { host, port };
}

/**
 * Several beanstalkd servers: one shared command connection per server for puts and stats, and factories for
 * the reserve connections each worker owns. Puts rotate over the servers (so one subscription's jobs spread) and
 * skip a server that is down, so one dead server never blocks the others.
 */
export class BeanstalkPool {
  readonly addresses: readonly string[];
  readonly #commands: BeanstalkClient[];
  readonly #options: BeanstalkPoolOptions;
  readonly #log: Logger;
  readonly #owned = new Set<BeanstalkClient>();
  #next = 0;
  #closed = false;

  constructor(options: BeanstalkPoolOptions) {
    if (options.addresses.length === 0)
      throw new PushError('DSP_PUSH_INVALID_ARGUMENT', 'at least one beanstalkd address is required');
    this.#options = options;
    this.#log = options.logger ?? noopLogger;
    this.addresses = options.addresses.map((a) => {
      const { host, port } = parseServerAddress(a);
      return `${host}:${port}`;
    });
    this.#commands = this.addresses.map((a) => this.#create(a));
  }

  /** The command connection of each server, in `addresses` order. */
  get clients(): readonly BeanstalkClientApi[] {
    return this.#commands;
  }

  /** Command connection of one server. */
  commandClient(address: string): BeanstalkClientApi {
    const index = this.addresses.indexOf(address);
    const client = this.#commands[index];
    if (!client) throw new PushError('DSP_PUSH_INVALID_ARGUMENT', `unknown beanstalkd server ${address}`);
    return client;
  }

  /** A new connection to `address` for reserving; the pool closes it on {@link close}. */
  createReserveClient(address: string): BeanstalkClient {
    if (this.#closed) throw new PushError('DSP_PUSH_CLOSED', 'beanstalkd pool is closed');
    return this.#create(address);
  }

  /** Closes a connection made by {@link createReserveClient}. */
  async release(client: BeanstalkClient): Promise<void> {
    this.#owned.delete(client);
    await client.close();
  }

  /** Connects the command connections; resolves once at least one server is up. */
  async connect(options: { signal?: AbortSignal } = {}): Promise<void> {
    const results = await Promise.allSettled(this.#commands.map((c) => c.connect(options)));
    if (results.every((r) => r.status === 'rejected')) {
      throw new PushError(
        'DSP_PUSH_BEANSTALK_DISCONNECTED',
        `no beanstalkd server reachable (${this.addresses.join(', ')})`,
        {
          cause: (results[0] as PromiseRejectedResult).reason,
        },
      );
    }
  }

  /**
   * Puts into `tube` on the next server in rotation (or `preferAddress` first); a server that fails is skipped
   * for the next one. `JOB_TOO_BIG` fails at once: no server would take it.
   */
  async put(
    tube: string,
    payload: Uint8Array,
    options: PutOptions & { signal?: AbortSignal; preferAddress?: string } = {},
  ): Promise<PutResult> {
    if (this.#closed) throw new PushError('DSP_PUSH_CLOSED', 'beanstalkd pool is closed');
    const n = this.#commands.length;
    const preferred =
      options.preferAddress === undefined ? -1 : this.addresses.indexOf(options.preferAddress);
    const start = preferred >= 0 ? preferred : this.#next++ % n;
    // Ready servers first, then the rest (a reconnecting server may be back by the time we get to it).
    const order = Array.from({ length: n }, (_, i) => (start + i) % n);
    order.sort(
      (a, b) => Number(this.#commands[b]?.state === 'ready') - Number(this.#commands[a]?.state === 'ready'),
    );
    let lastError: unknown;
    for (const index of order) {
      const client = this.#commands[index] as BeanstalkClient;
      try {
        const id = await client.put(payload, { ...options, tube });
        return { address: client.address, id };
      } catch (err) {
        if (
          PushError.hasCode(err, 'DSP_PUSH_BEANSTALK_JOB_TOO_BIG') ||
          PushError.hasCode(err, 'DSP_PUSH_CLOSED')
        )
          throw err;
        if (options.signal?.aborted) throw err;
        lastError = err;
        this.#log.warn({ err, beanstalkd: client.address, tube }, 'put failed, trying the next server');
      }
    }
    throw lastError;
  }

  /** Sum of one `stats-tube` field over the servers that answer. */
  async tubeCount(
    tube: string,
    field: 'current-jobs-ready' | 'current-jobs-buried' | 'current-jobs-reserved' | 'current-jobs-delayed',
  ): Promise<number> {
    const all = await Promise.allSettled(this.#commands.map((c) => c.statsTube(tube)));
    let total = 0;
    for (const r of all) if (r.status === 'fulfilled' && r.value) total += Number(r.value[field]) || 0;
    return total;
  }

  /** Closes every connection the pool made. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#owned].map((c) => c.close()));
    this.#owned.clear();
  }

  #create(address: string): BeanstalkClient {
    const { host, port } = parseServerAddress(address);
    const client = new BeanstalkClient({ ...this.#options.client, host, port, logger: this.#log });
    this.#owned.add(client);
    return client;
  }
}
