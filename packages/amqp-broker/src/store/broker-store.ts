/**
 * Persistence of a broker (`persistDir`): the definitions file and the message store, and the recovery
 * that runs at start-up before the listener opens — definitions first (exchanges, queues, bindings), then
 * every stored message back into the durable queues that still hold it, in publish order, `redelivered`
 * when it had been handed to a consumer, its TTL counted from the original publish.
 *
 *   <persistDir>/definitions.json   durable exchanges, queues, bindings per vhost
 *   <persistDir>/messages/          the message log (core DurableLog: segments + lock)
 *
 * The message log's directory lock makes a second broker on the same directory fail at start-up
 * (`DSP_CORE_LOG_LOCKED`, naming the process that holds it).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { type FsyncPolicy, type Logger, noopLogger } from '@dispatcher/core';
import { Message } from '../queue/message.js';
import type { VhostPersistence, VirtualHost } from '../vhost/virtual-host.js';
import { DefinitionsFile, type SecurityDefinitions, type VhostDefinitions } from './definitions-file.js';
import { MessageStore } from './message-store.js';

export interface BrokerStoreOptions {
  dir: string;
  /** The vhost of that name, created when the broker has none yet (a vhost found only on disk). */
  vhost: (name: string) => VirtualHost;
  /** Every vhost of the broker (their durable definitions are what gets written). */
  vhosts: () => Iterable<VirtualHost>;
  fsync?: FsyncPolicy;
  /** The vhosts, users and permissions to store (none stored when undefined). */
  security?: () => SecurityDefinitions;
  /**
   * Called with the stored security section before any vhost is restored, so that the broker can replace
   * its initial users, permissions and vhosts with them; undefined when the file has none yet.
   */
  restoreSecurity?: (security: SecurityDefinitions | undefined) => void;
  /** Decode field tables with the specification's type codes (`strictFieldTypes`). */
  strict?: boolean;
  logger?: Logger;
}

export interface StoreRecoveryReport {
  vhosts: number;
  exchanges: number;
  queues: number;
  bindings: number;
  messages: number;
  /** Queue copies put back (a message in two queues counts twice). */
  enqueued: number;
  durationMs: number;
}

export class BrokerStore {
  readonly messages: MessageStore;
  readonly definitions: DefinitionsFile;
  readonly report: StoreRecoveryReport;
  /** What a vhost created after start-up attaches to become persistent. */
  readonly persistence: VhostPersistence;

  private constructor(
    messages: MessageStore,
    definitions: DefinitionsFile,
    report: StoreRecoveryReport,
    persistence: VhostPersistence,
  ) {
    this.messages = messages;
    this.definitions = definitions;
    this.report = report;
    this.persistence = persistence;
  }

  static async open(options: BrokerStoreOptions): Promise<BrokerStore> {
    const started = performance.now();
    const log = (options.logger ?? noopLogger).child({ part: 'store' });
    await fsp.mkdir(options.dir, { recursive: true });
    const messages = await MessageStore.open({
      dir: join(options.dir, 'messages'),
      logger: log,
      ...(options.fsync ? { fsync: options.fsync } : {}),
    });
    try {
      const definitions = new DefinitionsFile(
        options.dir,
        () => {
          const all = new Map<string, VhostDefinitions>();
          for (const v of options.vhosts()) all.set(v.name, v.durableDefinitions());
          return all;
        },
        log,
        options.security,
      );
      const stored = await definitions.loadAll();
      options.restoreSecurity?.(stored.security);
      const loaded = stored.vhosts;
      const report: StoreRecoveryReport = {
        vhosts: loaded.size,
        exchanges: 0,
        queues: 0,
        bindings: 0,
        messages: 0,
        enqueued: 0,
        durationMs: 0,
      };
      for (const [name, defs] of loaded) {
        options.vhost(name).restoreDefinitions(defs);
        report.exchanges += defs.exchanges.length;
        report.queues += defs.queues.length;
        report.bindings += defs.bindings.length;
      }
      const persistence: VhostPersistence = {
        messages,
        definitionsChanged: () => definitions.changed(),
        get definitionsPending() {
          return definitions.pending;
        },
        definitionsFlushed: () => definitions.flushed(),
      };
      const byName = new Map<string, VirtualHost>();
      for (const v of options.vhosts()) {
        v.attachPersistence(persistence);
        byName.set(v.name, v);
      }
      for await (const r of messages.recover()) {
        report.messages++;
        const m = r.message;
        const vhost = byName.get(m.vhost);
        const message = new Message(
          m.exchange,
          m.routingKey,
          m.rawProperties,
          m.body,
          options.strict ?? false,
        );
        message.stored = r.ref;
        for (const name of r.queues) {
          const q = vhost?.getQueueIfExists(name);
          if (q?.store === undefined) {
            // Its queue is gone (deleted before the crash, or no longer valid): nothing holds it here.
            messages.release(r.ref, name);
            continue;
          }
          report.enqueued++;
          if (!q.restore(message, m.publishedAt, r.ref.delivered?.includes(name) ?? false))
            q.store.released(q, message);
        }
      }
      // The initial state (options) is stored once everything is restored, so that it survives as such.
      if (stored.security === undefined && options.security !== undefined) definitions.changed();
      report.durationMs = Math.round(performance.now() - started);
      log.info({ ...report, log: messages.recovery }, 'persistent state recovered');
      return new BrokerStore(messages, definitions, report, persistence);
    } catch (err) {
      await messages.close();
      throw err;
    }
  }

  /** Writes pending definitions and everything queued for the message log, then closes both. */
  async close(): Promise<void> {
    try {
      await this.definitions.close();
    } finally {
      await this.messages.close();
    }
  }

  destroy(err?: Error): void {
    this.messages.destroy(err);
  }
}
