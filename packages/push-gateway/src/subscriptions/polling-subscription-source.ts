import { isDeepStrictEqual } from 'node:util';
import { type Logger, noopLogger } from '@dispatcher/core';
import { PushError } from '../errors.js';
import type { Subscription, SubscriptionParamsPatch } from './subscription.js';
import type { SubscriptionChange, SubscriptionSource } from './subscription-source.js';

/** Options shared by the stores that poll. */
export interface PollingSourceOptions {
  /**
   * How often the store is read for changes made elsewhere (other instances, the control panel writing the
   * database directly), in milliseconds. @defaultValue 500
   */
  pollIntervalMs?: number;
  /** @defaultValue noopLogger */
  logger?: Logger;
}

/** Default of {@link PollingSourceOptions.pollIntervalMs}: changes are seen within about a second. */
export const DEFAULT_POLL_INTERVAL_MS = 500;

/**
 * Keeps a snapshot of all active subscriptions, re-reads the store every `pollIntervalMs` and reports the
 * difference to watchers. Polling the full (small) table is what makes a row edited by hand show up too.
 */
export abstract class PollingSubscriptionSource implements SubscriptionSource {
  protected readonly log: Logger;
  readonly #intervalMs: number;
  #snapshot = new Map<number, Subscription>();
  #listeners = new Set<(change: SubscriptionChange) => void>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #loaded: Promise<void> | undefined;
  #closed = false;

  constructor(options: PollingSourceOptions = {}) {
    this.#intervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.log = options.logger ?? noopLogger;
  }

  /** Reads every active subscription from the store. */
  protected abstract load(): Promise<Subscription[]>;
  /** Reads one subscription (active or not). */
  protected abstract loadOne(id: number): Promise<Subscription | undefined>;
  /** Writes a parameter patch to the store. */
  protected abstract writeParams(id: number, patch: SubscriptionParamsPatch): Promise<void>;
  /** Releases the store's connections. */
  protected abstract release(): Promise<void>;

  async list(): Promise<Subscription[]> {
    await this.#ensureLoaded();
    return [...this.#snapshot.values()];
  }

  async listByTopic(topic: string): Promise<Subscription[]> {
    return (await this.list()).filter((s) => s.topic === topic);
  }

  async get(id: number): Promise<Subscription | undefined> {
    this.#assertOpen();
    return this.#snapshot.get(id) ?? (await this.loadOne(id));
  }

  async setParams(id: number, patch: SubscriptionParamsPatch): Promise<Subscription> {
    this.#assertOpen();
    const current = await this.loadOne(id);
    if (!current) throw new PushError('DSP_PUSH_NOT_FOUND', `no subscription ${id}`);
    await this.writeParams(id, patch);
    await this.refresh();
    const updated = await this.loadOne(id);
    if (!updated) throw new PushError('DSP_PUSH_NOT_FOUND', `subscription ${id} vanished`);
    return updated;
  }

  watch(listener: (change: SubscriptionChange) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#timer && !this.#closed) {
      this.#timer = setInterval(() => void this.refresh().catch(() => {}), this.#intervalMs);
      this.#timer.unref();
    }
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Re-reads the store now and reports changes (one read at a time). */
  refresh(): Promise<void> {
    this.#polling ??= this.#poll().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#listeners.clear();
    await this.#polling?.catch(() => {});
    await this.release();
  }

  async #ensureLoaded(): Promise<void> {
    this.#assertOpen();
    this.#loaded ??= this.refresh().catch((err: unknown) => {
      this.#loaded = undefined;
      throw err;
    });
    await this.#loaded;
  }

  async #poll(): Promise<void> {
    if (this.#closed) return;
    let next: Subscription[];
    try {
      next = await this.load();
    } catch (err) {
      this.log.warn({ err }, 'reading subscriptions failed; keeping the last snapshot');
      throw new PushError('DSP_PUSH_STORE_FAILED', 'reading subscriptions failed', {
        cause: err instanceof Error ? err : undefined,
      });
    }
    const changes: SubscriptionChange[] = [];
    const seen = new Set<number>();
    for (const sub of next) {
      seen.add(sub.id);
      const before = this.#snapshot.get(sub.id);
      if (!before || !isDeepStrictEqual(before, sub)) changes.push({ kind: 'upsert', subscription: sub });
    }
    for (const [id, sub] of this.#snapshot)
      if (!seen.has(id)) changes.push({ kind: 'remove', id, topic: sub.topic });
    this.#snapshot = new Map(next.map((s) => [s.id, s]));
    for (const change of changes)
      for (const listener of this.#listeners) {
        try {
          listener(change);
        } catch (err) {
          this.log.error({ err }, 'subscription listener threw');
        }
      }
  }

  #assertOpen(): void {
    if (this.#closed) throw new PushError('DSP_PUSH_CLOSED', 'subscription source is closed');
  }
}
