/**
 * The broker's resource alarms, as RabbitMQ has them: `memory` and `disk`. While any is set, connections
 * that publish are blocked (connection.blocked, their sockets not read) until every alarm has cleared
 * (connection.unblocked). The monitors ({@link MemoryMonitor}, {@link DiskMonitor}) set and clear them;
 * connections listen.
 */

/** A resource that can be short (RabbitMQ's alarm names). */
export type AlarmResource = 'memory' | 'disk';

/** Called when the broker starts or stops blocking publishers (some alarm set / none left). */
export type BlockingListener = (blocking: boolean) => void;

const ORDER: readonly AlarmResource[] = ['memory', 'disk'];

export class ResourceAlarms {
  readonly #set = new Set<AlarmResource>();
  readonly #listeners = new Set<BlockingListener>();

  /** True while at least one alarm is set: publishing connections are blocked. */
  get blocking(): boolean {
    return this.#set.size > 0;
  }

  isSet(resource: AlarmResource): boolean {
    return this.#set.has(resource);
  }

  /**
   * The reason sent in connection.blocked, as RabbitMQ words it: `low on memory`, `low on disk`, or
   * `low on memory & disk`.
   */
  get reason(): string {
    return `low on ${ORDER.filter((r) => this.#set.has(r)).join(' & ')}`;
  }

  /** Sets (`on`) or clears an alarm; returns whether it changed. */
  update(resource: AlarmResource, on: boolean): boolean {
    if (this.#set.has(resource) === on) return false;
    const wasBlocking = this.blocking;
    if (on) this.#set.add(resource);
    else this.#set.delete(resource);
    if (this.blocking !== wasBlocking) for (const l of [...this.#listeners]) l(this.blocking);
    return true;
  }

  onChange(listener: BlockingListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
