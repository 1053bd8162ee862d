/**
 * Durable definitions (exchanges, queues, bindings of every vhost) in one JSON file in the persist
 * directory, replaced atomically (temporary file, fsync, rename, directory fsync) whenever they change.
 * Changes are coalesced: while a write runs, later changes wait and go out together in the next one, so
 * a burst of declarations costs a few writes. Definitions change rarely and are small; a readable file
 * also lets an operator see what the broker will restore.
 *
 * Arguments are kept as the AMQP field-table bytes (base64), so every value type survives exactly.
 *
 * The optional `security` section holds the vhost names, users (password hashes only, never plain text)
 * and permissions. It is absent in files written before users were stored; then the broker's options are
 * the state and the section is written at the next change.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { type Logger, noopLogger } from '@dispatcher/core';
import { type HashingAlgorithm, isHashingAlgorithm } from '../auth/password-hash.js';
import type { Permission } from '../auth/permission-store.js';
import type { TopicPermission } from '../auth/topic-permission-store.js';
import type { User } from '../auth/user-store.js';
import { ByteReader } from '../codec/byte-reader.js';
import { ByteWriter } from '../codec/byte-writer.js';
import { type FieldTable, readFieldTable, writeFieldTable } from '../codec/field-table.js';
import { BrokerError } from '../errors.js';

/** Vhosts, users and permissions as stored. */
export interface SecurityDefinitions {
  vhosts: string[];
  users: User[];
  permissions: Permission[];
  /** Empty when read from a file written before topic permissions were stored. */
  topicPermissions: TopicPermission[];
}

/** What the definitions file holds. */
export interface StoredDefinitions {
  vhosts: Map<string, VhostDefinitions>;
  /** Undefined in a file written before users and permissions were stored. */
  security: SecurityDefinitions | undefined;
}

export interface ExchangeDefinition {
  name: string;
  type: string;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

export interface QueueDefinition {
  name: string;
  autoDelete: boolean;
  arguments: FieldTable;
}

export interface BindingDefinition {
  source: string;
  destination: string;
  destinationType: 'queue' | 'exchange';
  routingKey: string;
  arguments: FieldTable;
}

/** The durable definitions of one vhost. */
export interface VhostDefinitions {
  exchanges: ExchangeDefinition[];
  queues: QueueDefinition[];
  bindings: BindingDefinition[];
}

const FILE = 'definitions.json';
const VERSION = 1;
const RETRY_MS = 1000;

function encodeTable(table: FieldTable): string {
  if (table.size === 0) return '';
  const w = new ByteWriter(64);
  writeFieldTable(w, table);
  return w.toBuffer().toString('base64');
}

function decodeTable(text: unknown, where: string): FieldTable {
  if (text === '' || text === undefined) return new Map();
  if (typeof text !== 'string') throw format(`${where}: arguments must be a base64 string`);
  try {
    return readFieldTable(new ByteReader().reset(Buffer.from(text, 'base64')));
  } catch (err) {
    throw format(`${where}: arguments cannot be decoded (${String(err)})`);
  }
}

function format(message: string): BrokerError {
  return new BrokerError('DSP_BROKER_STORE_FORMAT', `definitions file: ${message}`);
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string') throw format(`${where} must be a string`);
  return v;
}

function bool(v: unknown, where: string): boolean {
  if (typeof v !== 'boolean') throw format(`${where} must be true or false`);
  return v;
}

function list(v: unknown, where: string): Record<string, unknown>[] {
  if (!Array.isArray(v)) throw format(`${where} must be a list`);
  return v as Record<string, unknown>[];
}

function parseVhost(raw: Record<string, unknown>, vhost: string): VhostDefinitions {
  const at = `vhost '${vhost}'`;
  return {
    exchanges: list(raw.exchanges, `${at} exchanges`).map((e, i) => ({
      name: str(e.name, `${at} exchange ${i} name`),
      type: str(e.type, `${at} exchange ${i} type`),
      autoDelete: bool(e.autoDelete, `${at} exchange ${i} autoDelete`),
      internal: bool(e.internal, `${at} exchange ${i} internal`),
      arguments: decodeTable(e.arguments, `${at} exchange ${i}`),
    })),
    queues: list(raw.queues, `${at} queues`).map((q, i) => ({
      name: str(q.name, `${at} queue ${i} name`),
      autoDelete: bool(q.autoDelete, `${at} queue ${i} autoDelete`),
      arguments: decodeTable(q.arguments, `${at} queue ${i}`),
    })),
    bindings: list(raw.bindings, `${at} bindings`).map((b, i) => {
      const destinationType = str(b.destinationType, `${at} binding ${i} destinationType`);
      if (destinationType !== 'queue' && destinationType !== 'exchange')
        throw format(`${at} binding ${i} destinationType must be queue or exchange`);
      return {
        source: str(b.source, `${at} binding ${i} source`),
        destination: str(b.destination, `${at} binding ${i} destination`),
        destinationType,
        routingKey: str(b.routingKey, `${at} binding ${i} routingKey`),
        arguments: decodeTable(b.arguments, `${at} binding ${i}`),
      };
    }),
  };
}

function parseSecurity(raw: unknown): SecurityDefinitions | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null) throw format('security must be an object');
  const r = raw as Record<string, unknown>;
  if (!Array.isArray(r.vhosts)) throw format('security.vhosts must be a list');
  return {
    vhosts: r.vhosts.map((v, i) => str(v, `security.vhosts ${i}`)),
    users: list(r.users, 'security.users').map((u, i) => {
      const algorithm = str(u.hashingAlgorithm, `security user ${i} hashingAlgorithm`);
      if (!isHashingAlgorithm(algorithm))
        throw format(`security user ${i} hashingAlgorithm '${algorithm}' is unknown`);
      const tags = list(u.tags, `security user ${i} tags`).map((t, j) =>
        str(t, `security user ${i} tag ${j}`),
      );
      return {
        name: str(u.name, `security user ${i} name`),
        passwordHash: str(u.passwordHash, `security user ${i} passwordHash`),
        hashingAlgorithm: algorithm as HashingAlgorithm,
        tags,
      };
    }),
    permissions: list(r.permissions, 'security.permissions').map((p, i) => ({
      user: str(p.user, `security permission ${i} user`),
      vhost: str(p.vhost, `security permission ${i} vhost`),
      configure: str(p.configure, `security permission ${i} configure`),
      write: str(p.write, `security permission ${i} write`),
      read: str(p.read, `security permission ${i} read`),
    })),
    topicPermissions: (r.topicPermissions === undefined
      ? []
      : list(r.topicPermissions, 'security.topicPermissions')
    ).map((p, i) => ({
      user: str(p.user, `security topic permission ${i} user`),
      vhost: str(p.vhost, `security topic permission ${i} vhost`),
      exchange: str(p.exchange, `security topic permission ${i} exchange`),
      write: str(p.write, `security topic permission ${i} write`),
      read: str(p.read, `security topic permission ${i} read`),
    })),
  };
}

export class DefinitionsFile {
  readonly path: string;
  readonly #dir: string;
  readonly #snapshot: () => Map<string, VhostDefinitions>;
  readonly #security: (() => SecurityDefinitions) | undefined;
  readonly #log: Logger;
  #dirty = false;
  #writing: Promise<void> | undefined;
  #waiters: Array<() => void> = [];
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  /**
   * @param snapshot Reads the current durable definitions of every vhost (called for each write).
   * @param security Reads the vhosts, users and permissions to store (none stored when undefined).
   */
  constructor(
    dir: string,
    snapshot: () => Map<string, VhostDefinitions>,
    logger: Logger = noopLogger,
    security?: () => SecurityDefinitions,
  ) {
    this.#dir = dir;
    this.path = join(dir, FILE);
    this.#snapshot = snapshot;
    this.#security = security;
    this.#log = logger.child({ store: 'definitions' });
  }

  /** The stored definitions by vhost (empty when there is no file yet). */
  async load(): Promise<Map<string, VhostDefinitions>> {
    return (await this.loadAll()).vhosts;
  }

  /** The stored definitions by vhost and the security section (nothing when there is no file yet). */
  async loadAll(): Promise<StoredDefinitions> {
    let text: string;
    try {
      text = await fsp.readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { vhosts: new Map(), security: undefined };
      throw err;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw format(`${this.path} is not JSON (${String(err)})`);
    }
    const doc = raw as { version?: unknown; vhosts?: unknown; security?: unknown };
    if (doc.version !== VERSION) throw format(`${this.path} has version ${String(doc.version)}, expected 1`);
    if (typeof doc.vhosts !== 'object' || doc.vhosts === null) throw format('vhosts must be an object');
    const out = new Map<string, VhostDefinitions>();
    for (const [name, v] of Object.entries(doc.vhosts as Record<string, unknown>)) {
      out.set(name, parseVhost(v as Record<string, unknown>, name));
    }
    return { vhosts: out, security: parseSecurity(doc.security) };
  }

  /** The definitions changed: write them (soon, coalesced with other changes). */
  changed(): void {
    if (this.#closed) return;
    this.#dirty = true;
    if (this.#writing === undefined && this.#retry === undefined) this.#writing = this.#writeLoop();
  }

  /** A change is not on disk yet. */
  get pending(): boolean {
    return this.#dirty || this.#writing !== undefined;
  }

  /** Resolves once every change made so far is on disk. */
  flushed(): Promise<void> {
    if (!this.#dirty && this.#writing === undefined) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Writes what is pending, then stops writing. */
  async close(): Promise<void> {
    clearTimeout(this.#retry);
    this.#retry = undefined;
    if (this.#dirty && this.#writing === undefined) this.#writing = this.#writeLoop();
    await this.#writing;
    this.#closed = true;
  }

  async #writeLoop(): Promise<void> {
    try {
      while (this.#dirty) {
        this.#dirty = false;
        const text = this.#serialize();
        await this.#replace(text);
      }
      for (const resolve of this.#waiters.splice(0)) resolve();
    } catch (err) {
      this.#dirty = true;
      this.#log.error({ err }, 'definitions not written; retrying');
      if (!this.#closed) {
        this.#retry = setTimeout(() => {
          this.#retry = undefined;
          if (this.#writing === undefined) this.#writing = this.#writeLoop();
        }, RETRY_MS);
        this.#retry.unref();
      }
    } finally {
      this.#writing = undefined;
    }
  }

  #serialize(): string {
    const vhosts: Record<string, unknown> = {};
    for (const [name, d] of this.#snapshot()) {
      vhosts[name] = {
        exchanges: d.exchanges.map((e) => ({ ...e, arguments: encodeTable(e.arguments) })),
        queues: d.queues.map((q) => ({ ...q, arguments: encodeTable(q.arguments) })),
        bindings: d.bindings.map((b) => ({ ...b, arguments: encodeTable(b.arguments) })),
      };
    }
    const security = this.#security?.();
    return `${JSON.stringify({ version: VERSION, vhosts, ...(security === undefined ? {} : { security }) }, null, 1)}\n`;
  }

  async #replace(text: string): Promise<void> {
    const tmp = `${this.path}.tmp`;
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, this.path);
    const dh = await fsp.open(this.#dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}
