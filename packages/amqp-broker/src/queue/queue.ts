/**
 * An in-memory queue: ready messages in queue order (one list per priority level with `x-max-priority`),
 * consumers served round-robin (highest `x-priority` first; only the active one with
 * `x-single-active-consumer`), and the count of messages delivered but not yet settled.
 *
 * Requeued messages go back to their original position (ordered by the sequence number they got when
 * enqueued), marked redelivered — as RabbitMQ does.
 *
 * Queue arguments, as RabbitMQ applies them:
 * - TTL (`x-message-ttl`, per-message `expiration`; the lower wins): a message expires only from the head
 *   of its list — one timer per queue is armed for the head's deadline, and the head is checked before
 *   every delivery and basic.get, so an expired message is never handed out. A message that finds a
 *   consumer waiting on an empty queue is delivered at once (TTL 0 means "deliver now or drop").
 * - `x-max-length` / `x-max-length-bytes` count ready messages (bodies): `drop-head` drops from the head
 *   after enqueueing, `reject-publish` refuses the new message (the publisher gets basic.nack),
 *   `reject-publish-dlx` refuses and dead-letters it.
 * - Dead-lettering (reject/nack without requeue, expiry, max-length) calls {@link Queue.onDeadLetter}; the
 *   vhost republishes to `x-dead-letter-exchange`.
 * - `x-expires`: the queue is deleted after that long without consumers, basic.get or redeclare
 *   ({@link Queue.onExpired}).
 *
 * Flow control: above `flowHighWaterMessages` ready messages, while it has consumers, the queue is
 * {@link Queue.congested}; the connections publishing to it wait ({@link Queue.waitForDrain}) until it is
 * back at half of that (or its last consumer is gone).
 *
 * Its timers (TTL, `x-expires`) run outside any connection, and dead-lettering runs inside other work
 * (an expiry, a drop-head, a reject): a failure there is logged and the message dropped, never thrown out
 * (out of a timer it would end the process).
 */
import { type Logger, MAX_TIMEOUT_MS, noopLogger } from '@dispatcher/core';
import type { FieldTable } from '../codec/field-table.js';
import type { DeadLetterReason } from './dead-letter.js';
import { MemoryGauge } from './memory-gauge.js';
import type { Message } from './message.js';
import { PagedIndex, type PagedRef } from './paged-index.js';
import type { QueueEntry } from './queue-entry.js';
import { type QueueSettings, queueSettings } from './queue-settings.js';
import { QueueStats } from './queue-stats.js';
import { ReadyList } from './ready-list.js';

type StoredRef = NonNullable<Message['stored']>;

/** Most paged-out messages read back in one go. */
const MAX_PAGE_IN = 2048;
/**
 * Most body bytes read back in one go; the next read-back starts once the head list is down to two such
 * batches (the slack that hides the read's latency). Kept well below the memory window: messages read
 * back then wait only milliseconds for their consumer, so the garbage a drain leaves (message objects,
 * bodies, read buffers) mostly dies young instead of being promoted and piling up until a full GC — which
 * is what set the drain's peak RSS.
 */
const PAGE_IN_BYTES = 512 * 1024;

export type { QueueEntry } from './queue-entry.js';

/** What a queue needs from a consumer (implemented by the protocol layer's channel). */
export interface QueueConsumer {
  readonly tag: string;
  readonly exclusive: boolean;
  readonly priority: number;
  /** True when the consumer can take one more message now (prefetch, flow, socket backpressure). */
  canDeliver(): boolean;
  /** Hands the entry over; the queue has already removed it from its ready list. */
  deliver(queue: Queue, entry: QueueEntry): void;
  /** The queue was deleted: the consumer is gone (the channel sends basic.cancel when the client asked). */
  cancelledByBroker(queue: Queue): void;
}

/**
 * What a durable queue tells the message store: a persistent message was handed to a consumer for the
 * first time, or the queue is done with it (acked, dropped, expired, dead-lettered, purged, deleted).
 */
export interface QueueStoreHooks {
  delivered(queue: Queue, message: Message): void;
  released(queue: Queue, message: Message): void;
  /**
   * Bytes of ready message bodies a queue keeps in memory before it pages stored messages out (their
   * bodies stay only in the log, read back as consumers catch up); 0: never pages.
   */
  readonly pageWindowBytes: number;
  /** Reads paged-out messages back, in order; undefined for one that could not be read (dropped). */
  load(logSeqs: readonly number[]): Promise<(Message | undefined)[]>;
  /** The queue is done with paged-out messages (purge, delete): they leave the log. */
  releasePaged(logSeqs: readonly number[]): void;
}

export interface QueueOptions {
  readonly name: string;
  readonly durable: boolean;
  /** The connection owning an exclusive queue; undefined for shared queues. */
  readonly owner: object | undefined;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  /** Broker-wide byte count of ready messages (memory alarm). @defaultValue a private gauge */
  readonly gauge?: MemoryGauge;
  /** Ready messages above which the queue is congested (publishers pause); 0: never. @defaultValue 0 */
  readonly flowHighWaterMessages?: number;
  /** Where failures of timers and dead-lettering are reported. @defaultValue no-op logger */
  readonly log?: Logger;
}

export class Queue {
  readonly name: string;
  readonly durable: boolean;
  readonly owner: object | undefined;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  readonly settings: QueueSettings;
  /** Called when the last consumer of an auto-delete queue goes away. */
  onUnused: ((queue: Queue) => void) | undefined;
  /** Called when a message dies and the queue has a dead-letter exchange. */
  onDeadLetter: ((queue: Queue, message: Message, reason: DeadLetterReason) => void) | undefined;
  /** Called when the queue went unused for `x-expires` milliseconds. */
  onExpired: ((queue: Queue) => void) | undefined;
  /** The message store's hooks (durable queues of a persistent broker only). */
  store: QueueStoreHooks | undefined;

  /** One list per priority level (index = level); a single one without `x-max-priority`. */
  readonly #levels: ReadyList[];
  #readyCount = 0;
  #readyBytes = 0;
  #nextSeq = 1;
  #consumers: QueueConsumer[] = [];
  #rr = 0;
  /** The consumer receiving messages with `x-single-active-consumer`. */
  #active: QueueConsumer | undefined;
  #hadConsumer = false;
  #deleted = false;
  #dispatching = false;
  /** Some ready message may carry a deadline. */
  #ttlActive: boolean;
  #ttlTimer: NodeJS.Timeout | undefined;
  #ttlDue = 0;
  #expiresTimer: NodeJS.Timeout | undefined;
  readonly #limited: boolean;
  readonly #gauge: MemoryGauge;
  readonly #flowHigh: number;
  readonly #flowLow: number;
  readonly #log: Logger;
  /** Publishers waiting for the queue to drain below `#flowLow` (undefined: none). */
  #flowWaiters: Set<() => void> | undefined;
  /** Delivered to consumers or basic.get, not yet acked/rejected. */
  unacked = 0;
  /**
   * Paging (a durable queue of a persistent broker, without priorities or length limits): past the
   * memory window, entries go to `#tail`; once their stored copy is durable they move to `#paged`
   * (bodies only on disk); `#pageIn` reads them back into the head list as it drains. Queue order is
   * always head list < loading < paged < tail.
   */
  readonly #pageable: boolean;
  readonly #tail = new ReadyList();
  /** The stored message {@link Queue.#pageOutWhenDurable} waits for, so it waits once per message. */
  #pageOutWaitingFor: StoredRef | undefined;
  #tailBytes = 0;
  readonly #paged = new PagedIndex();
  /** Paged entries being read back (counted ready) and their bytes. */
  #loading = 0;
  #loadingBytes = 0;
  /** Bumped by purge and delete: a read-back that completes after it releases what it read. */
  #generation = 0;
  /** Cumulative message counters (management API, metrics). */
  readonly stats = new QueueStats();

  constructor(options: QueueOptions) {
    this.name = options.name;
    this.durable = options.durable;
    this.owner = options.owner;
    this.autoDelete = options.autoDelete;
    this.arguments = options.arguments;
    this.settings = queueSettings(options.arguments);
    this.#gauge = options.gauge ?? new MemoryGauge();
    this.#log = options.log ?? noopLogger;
    const flow = options.flowHighWaterMessages ?? 0;
    this.#flowHigh = flow > 0 ? flow : Number.POSITIVE_INFINITY;
    this.#flowLow = Math.floor(flow / 2);
    this.#levels = Array.from({ length: this.settings.maxPriority + 1 }, () => new ReadyList());
    this.#ttlActive = this.settings.messageTtlMs >= 0;
    this.#limited = this.settings.maxLength >= 0 || this.settings.maxLengthBytes >= 0;
    this.#pageable = this.settings.maxPriority === 0 && !this.#limited;
    this.#armExpires();
  }

  get deleted(): boolean {
    return this.#deleted;
  }

  /** Ready messages (not counting unacked ones), as queue.declare-ok reports. */
  get messageCount(): number {
    return this.#readyCount;
  }

  /** Sum of the body sizes of the ready messages. */
  get messageBytes(): number {
    return this.#readyBytes;
  }

  get consumerCount(): number {
    return this.#consumers.length;
  }

  get consumers(): readonly QueueConsumer[] {
    return this.#consumers;
  }

  /** The consumer that receives messages now with `x-single-active-consumer` (undefined otherwise). */
  get activeConsumer(): QueueConsumer | undefined {
    return this.#active;
  }

  /**
   * More ready messages than the flow watermark while consumers are draining it: publishers to this queue
   * should pause. A queue without consumers is never congested (nothing would drain it; it grows until
   * the memory alarm, as in RabbitMQ).
   */
  get congested(): boolean {
    return this.#readyCount > this.#flowHigh && this.#consumers.length > 0;
  }

  /** Calls `onDrained` once the queue is at or below its low flow watermark (at once if it already is). */
  waitForDrain(onDrained: () => void): void {
    if (this.#readyCount <= this.#flowLow) {
      onDrained();
      return;
    }
    this.#flowWaiters ??= new Set();
    this.#flowWaiters.add(onDrained);
  }

  /** Forgets a {@link waitForDrain} callback (its connection closed). */
  stopWaiting(onDrained: () => void): void {
    this.#flowWaiters?.delete(onDrained);
  }

  hasExclusiveConsumer(): boolean {
    return this.#consumers.some((c) => c.exclusive);
  }

  /**
   * Adds a published message. Returns false when the queue refused it (`x-overflow` reject-publish or
   * reject-publish-dlx at the length limit): the publisher gets basic.nack.
   */
  enqueue(message: Message): boolean {
    this.stats.publish++;
    return this.#enqueue(message, Date.now(), false);
  }

  /**
   * Puts back a message recovered from the store after a restart: its TTL counts from `enqueuedAt` (the
   * original publish), so one that expired while the broker was down dies at once (dead-lettered or
   * dropped, as the queue says).
   */
  restore(message: Message, enqueuedAt: number, redelivered: boolean): boolean {
    return this.#enqueue(message, enqueuedAt, redelivered);
  }

  #enqueue(message: Message, enqueuedAt: number, redelivered: boolean): boolean {
    if (this.#deleted) return true;
    const s = this.settings;
    if (this.#limited && s.overflow !== 'drop-head' && this.#wouldOverflow(message.body.length)) {
      if (s.overflow === 'reject-publish-dlx') this.#deadLetter(message, 'maxlen');
      return false;
    }
    let expiresAt = 0;
    const ttl = effectiveTtl(s.messageTtlMs, message);
    if (ttl >= 0) {
      // 0 means "never": a deadline in the past is kept just above it.
      expiresAt = Math.max(1, enqueuedAt + ttl);
      this.#ttlActive = true;
    }
    const entry: QueueEntry = {
      message,
      seq: this.#nextSeq++,
      expiresAt,
      level: s.maxPriority === 0 ? 0 : Math.min(message.priority, s.maxPriority),
      redelivered,
    };
    // A consumer waiting on an empty queue gets the message at once (TTL 0 included).
    if (this.#readyCount === 0 && this.#consumers.length > 0 && !this.#dispatching && !redelivered) {
      const consumer = this.#pickConsumer();
      if (consumer !== undefined) {
        this.unacked++;
        consumer.deliver(this, entry);
        this.#delivered(entry);
        return true;
      }
    }
    const size = message.body.length;
    if (!this.#pageable || !this.#spill(entry, size)) this.#levels[entry.level]!.push(entry);
    this.#readyCount++;
    this.#readyBytes += size;
    this.#gauge.add(size);
    if (this.#tail.length > 0) this.#pageOut();
    if (expiresAt !== 0) {
      this.#dropExpired(Date.now());
      this.#armTtl();
    }
    if (this.#limited && s.overflow === 'drop-head') this.#dropHeadWhileOver();
    this.dispatch();
    return true;
  }

  /**
   * Takes the head message for basic.get (never an expired one). With `noAck` the queue is done with it
   * at once; otherwise the caller counts it unacked and settles it later.
   */
  shift(noAck = false): QueueEntry | undefined {
    this.#armExpires();
    if (this.#ttlActive) this.#dropExpired(Date.now());
    const entry = this.#take();
    if (entry !== undefined) {
      if (noAck) {
        this.stats.deliverGet++;
        if (entry.redelivered) this.stats.redeliver++;
        this.#release(entry);
      } else this.#delivered(entry);
    }
    if (this.#flowWaiters !== undefined && this.#readyCount <= this.#flowLow) this.#drained();
    return entry;
  }

  /** The queue was redeclared: it counts as used (`x-expires`). */
  touch(): void {
    this.#armExpires();
  }

  /** Puts unacked entries back at their original positions, marked redelivered. */
  requeue(entries: readonly QueueEntry[]): void {
    if (this.#deleted) {
      for (const entry of entries) this.#release(entry);
      return;
    }
    // Highest sequence first: each entry then goes in at (or next to) the head of a deep list.
    const sorted = entries.length > 1 ? [...entries].sort(bySeqDescending) : entries;
    for (const entry of sorted) {
      entry.redelivered = true;
      this.unacked--;
      this.#levels[entry.level]!.insertBySeq(entry);
      this.#readyCount++;
      this.#readyBytes += entry.message.body.length;
      this.#gauge.add(entry.message.body.length);
    }
    if (this.#ttlActive) {
      // A requeued message keeps its deadline; one that passed dies as soon as it is at the head.
      this.#dropExpired(Date.now());
      this.#armTtl();
    }
    if (this.#limited && this.settings.overflow === 'drop-head') this.#dropHeadWhileOver();
    this.dispatch();
  }

  /** A client acknowledged an unacked entry (counted in {@link stats}), which is then settled. */
  ack(entry: QueueEntry): void {
    this.stats.ack++;
    this.settle(entry);
  }

  /** An unacked entry was acked or dropped. */
  settle(entry: QueueEntry): void {
    this.unacked--;
    this.#release(entry);
  }

  /** An unacked entry was rejected without requeue: it is dead-lettered when the queue says so. */
  reject(entry: QueueEntry): void {
    this.unacked--;
    if (!this.#deleted) this.#deadLetter(entry.message, 'rejected');
    this.#release(entry);
  }

  purge(): number {
    const count = this.#readyCount;
    if (this.store !== undefined) {
      for (const level of this.#levels) for (let i = 0; i < level.length; i++) this.#release(level.at(i)!);
      for (let i = 0; i < this.#tail.length; i++) this.#release(this.#tail.at(i)!);
      if (this.#paged.length > 0) {
        const seqs: number[] = [];
        this.#paged.forEachLogSeq((s) => seqs.push(s));
        this.store.releasePaged(seqs);
      }
    }
    for (const level of this.#levels) level.clear();
    // Only bodies in memory count in the gauge; those being read back are released when they arrive.
    this.#gauge.subtract(this.#readyBytes - this.#paged.bytes - this.#loadingBytes);
    this.#tail.clear();
    this.#tailBytes = 0;
    this.#paged.clear();
    this.#generation++;
    this.#readyCount = 0;
    this.#readyBytes = 0;
    this.#clearTtlTimer();
    if (this.#flowWaiters !== undefined) this.#drained();
    return count;
  }

  addConsumer(consumer: QueueConsumer): void {
    this.#hadConsumer = true;
    // Higher priority first; equal priorities keep arrival order.
    let i = this.#consumers.length;
    while (i > 0 && this.#consumers[i - 1]!.priority < consumer.priority) i--;
    this.#consumers.splice(i, 0, consumer);
    if (this.settings.singleActiveConsumer && this.#active === undefined) this.#active = consumer;
    this.#armExpires();
    this.dispatch();
  }

  removeConsumer(consumer: QueueConsumer): void {
    const i = this.#consumers.indexOf(consumer);
    if (i < 0) return;
    this.#consumers.splice(i, 1);
    if (this.#rr > i) this.#rr--;
    if (this.#consumers.length === 0 && this.autoDelete && this.#hadConsumer && !this.#deleted) {
      this.onUnused?.(this);
    }
    if (this.#consumers.length === 0 && this.#flowWaiters !== undefined) this.#drained();
    if (this.#deleted) return;
    this.#armExpires();
    if (this.#active === consumer) {
      // Fail over to the longest-waiting consumer of the highest priority.
      this.#active = this.#consumers[0];
      this.dispatch();
    }
  }

  /** Marks the queue deleted, tells its consumers, drops its messages; returns the ready count. */
  delete(): number {
    if (this.#deleted) return 0;
    this.#deleted = true;
    const count = this.purge();
    if (this.#expiresTimer !== undefined) clearTimeout(this.#expiresTimer);
    this.#expiresTimer = undefined;
    const consumers = this.#consumers;
    this.#consumers = [];
    this.#active = undefined;
    for (const c of consumers) c.cancelledByBroker(this);
    return count;
  }

  /** Delivers ready messages to consumers that can take them. */
  dispatch(): void {
    if (this.#dispatching || this.#deleted || this.#readyCount === 0) return;
    this.#dispatching = true;
    try {
      let now = this.#ttlActive ? Date.now() : 0;
      while (this.#readyCount > 0 && this.#consumers.length > 0) {
        const consumer = this.#pickConsumer();
        if (consumer === undefined) break;
        if (this.#ttlActive) {
          this.#dropExpired(now);
          if (this.#readyCount === 0) break;
        }
        const entry = this.#take();
        if (entry === undefined) break; // the next ones are being read back from disk
        this.unacked++;
        consumer.deliver(this, entry);
        this.#delivered(entry);
        if (now !== 0 && (this.#readyCount & 127) === 0) now = Date.now();
      }
    } finally {
      this.#dispatching = false;
    }
    if (this.#flowWaiters !== undefined && this.#readyCount <= this.#flowLow) this.#drained();
  }

  /** Back at the low flow watermark: let the waiting publishers go. */
  #drained(): void {
    const waiters = this.#flowWaiters;
    this.#flowWaiters = undefined;
    if (waiters !== undefined) for (const w of waiters) w();
  }

  // ---- internals ---------------------------------------------------------------------------------

  /**
   * Removes and returns the head of the highest non-empty priority level; undefined when there is none,
   * or when the next messages are paged out (a read-back is then under way and dispatches when done).
   */
  #take(): QueueEntry | undefined {
    if (this.#readyCount === 0) return undefined;
    const levels = this.#levels;
    for (let l = levels.length - 1; l >= 0; l--) {
      const entry = levels[l]!.shift();
      if (entry !== undefined) {
        this.#readyCount--;
        this.#readyBytes -= entry.message.body.length;
        this.#gauge.subtract(entry.message.body.length);
        if (this.#paged.length > 0) this.#pageIn();
        return entry;
      }
    }
    if (this.#paged.length > 0 || this.#loading > 0) {
      this.#pageIn();
      return undefined;
    }
    const entry = this.#tail.shift();
    if (entry !== undefined) {
      const size = entry.message.body.length;
      this.#tailBytes -= size;
      this.#readyCount--;
      this.#readyBytes -= size;
      this.#gauge.subtract(size);
    }
    return entry;
  }

  /** Bytes of the ready bodies in the head list (in memory, before the paged ones). */
  #headBytes(): number {
    return this.#readyBytes - this.#paged.bytes - this.#loadingBytes - this.#tailBytes;
  }

  /** True when `entry` goes behind the paged ones (the head list is full or something is paged). */
  #spill(entry: QueueEntry, size: number): boolean {
    const window = this.store?.pageWindowBytes ?? 0;
    if (window <= 0) return false;
    if (
      this.#paged.length === 0 &&
      this.#loading === 0 &&
      this.#tail.length === 0 &&
      this.#headBytes() + size <= window
    ) {
      return false;
    }
    this.#tail.push(entry);
    this.#tailBytes += size;
    return true;
  }

  /**
   * Moves tail entries whose stored copy is durable to the paged index, dropping their bodies. Only a
   * message this queue alone holds, never delivered, goes (its release is then a plain log ack); the
   * first one that does not qualify (not yet written, fanned out, transient) stops the walk, keeping
   * queue order — it is handed out from memory when the head reaches it.
   */
  #pageOut(): void {
    let freed = 0;
    const tail = this.#tail;
    for (let e = tail.peek(); e !== undefined; e = tail.peek()) {
      const ref = e.message.stored;
      if (ref?.state === 'pending') {
        this.#pageOutWhenDurable(ref);
        break;
      }
      if (
        ref === undefined ||
        ref.state !== 'durable' ||
        ref.holders !== 1 ||
        ref.marks !== undefined ||
        ref.delivered !== undefined ||
        e.redelivered
      ) {
        break;
      }
      tail.shift();
      const size = e.message.body.length;
      this.#tailBytes -= size;
      freed += size;
      this.#paged.push(ref.seq, e.seq, e.expiresAt, size);
    }
    if (freed > 0) this.#gauge.subtract(freed);
  }

  /**
   * Pages out again once `ref` (the tail's first entry) is on disk. Without this a queue that stops
   * receiving keeps its unwritten tail in memory for good, and a publisher blocked by the memory alarm
   * that tail holds up would never be let go.
   */
  #pageOutWhenDurable(ref: StoredRef): void {
    if (this.#pageOutWaitingFor === ref) return;
    this.#pageOutWaitingFor = ref;
    const generation = this.#generation;
    const again = () => {
      if (this.#pageOutWaitingFor === ref) this.#pageOutWaitingFor = undefined;
      if (generation === this.#generation && !this.#deleted && this.#tail.length > 0) this.#pageOut();
    };
    ref.durable.then(again, again);
  }

  /**
   * Starts reading paged-out messages back once the head list holds at most two read-back batches
   * ({@link PAGE_IN_BYTES}, or a quarter of a smaller window); reads at most one batch.
   */
  #pageIn(): void {
    const store = this.store;
    if (this.#loading > 0 || this.#paged.length === 0 || this.#deleted || store === undefined) return;
    const window = store.pageWindowBytes;
    const batch = Math.min(PAGE_IN_BYTES, window / 4);
    const head = this.#headBytes();
    if (head > 2 * batch) return;
    const room = Math.min(batch, window - head);
    const refs: PagedRef[] = [];
    let bytes = 0;
    while (
      refs.length < MAX_PAGE_IN &&
      this.#paged.length > 0 &&
      (refs.length === 0 || bytes + this.#paged.peekSize() <= room)
    ) {
      const ref: PagedRef = { logSeq: 0, queueSeq: 0, expiresAt: 0, size: 0 };
      this.#paged.shift(ref);
      refs.push(ref);
      bytes += ref.size;
    }
    this.#loading = refs.length;
    this.#loadingBytes = bytes;
    const generation = this.#generation;
    store.load(refs.map((r) => r.logSeq)).then(
      (messages) => this.#pagedIn(generation, refs, messages),
      (err: unknown) =>
        this.#pagedIn(
          generation,
          refs,
          refs.map(() => undefined),
          err,
        ),
    );
  }

  #pagedIn(generation: number, refs: PagedRef[], messages: (Message | undefined)[], err?: unknown): void {
    this.#loading = 0;
    this.#loadingBytes = 0;
    try {
      if (generation !== this.#generation) {
        // Purged or deleted meanwhile: the queue no longer counts them.
        this.store?.releasePaged(refs.map((r) => r.logSeq));
        this.dispatch();
        return;
      }
      let added = 0;
      let lost = 0;
      const head = this.#levels[0]!;
      for (let i = 0; i < refs.length; i++) {
        const ref = refs[i]!;
        const message = messages[i];
        if (message === undefined) {
          lost++;
          this.#readyCount--;
          this.#readyBytes -= ref.size;
          continue;
        }
        head.push({ message, seq: ref.queueSeq, expiresAt: ref.expiresAt, level: 0, redelivered: false });
        added += ref.size;
      }
      if (lost > 0)
        this.#log.error({ err, queue: this.name, lost }, 'paged-out messages could not be read back');
      this.#gauge.add(added);
      if (this.#ttlActive) {
        this.#dropExpired(Date.now());
        this.#armTtl();
      }
      this.dispatch();
      this.#pageIn();
      if (this.#flowWaiters !== undefined && this.#readyCount <= this.#flowLow) this.#drained();
    } catch (e) {
      this.#log.error({ err: e, queue: this.name }, 'reading paged-out messages back failed');
    }
  }

  #wouldOverflow(size: number): boolean {
    const s = this.settings;
    return (
      (s.maxLength >= 0 && this.#readyCount + 1 > s.maxLength) ||
      (s.maxLengthBytes >= 0 && this.#readyBytes + size > s.maxLengthBytes)
    );
  }

  #dropHeadWhileOver(): void {
    const s = this.settings;
    while (
      this.#readyCount > 0 &&
      ((s.maxLength >= 0 && this.#readyCount > s.maxLength) ||
        (s.maxLengthBytes >= 0 && this.#readyBytes > s.maxLengthBytes))
    ) {
      const entry = this.#take()!;
      this.#deadLetter(entry.message, 'maxlen');
      this.#release(entry);
    }
  }

  /** Drops (and dead-letters) expired messages at the head of every level. */
  #dropExpired(now: number): void {
    for (const level of this.#levels) {
      for (let head = level.peek(); head !== undefined && head.expiresAt !== 0 && head.expiresAt <= now; ) {
        level.shift();
        this.#readyCount--;
        this.#readyBytes -= head.message.body.length;
        this.#gauge.subtract(head.message.body.length);
        this.#deadLetter(head.message, 'expired');
        this.#release(head);
        head = level.peek();
      }
    }
    if (this.#paged.length > 0) this.#pageIn();
  }

  /** Arms the TTL timer for the earliest head deadline. */
  #armTtl(): void {
    if (this.#deleted) return;
    let due = Number.POSITIVE_INFINITY;
    for (const level of this.#levels) {
      const head = level.peek();
      if (head !== undefined && head.expiresAt !== 0 && head.expiresAt < due) due = head.expiresAt;
    }
    if (due === Number.POSITIVE_INFINITY) {
      this.#clearTtlTimer();
      return;
    }
    if (this.#ttlTimer !== undefined && this.#ttlDue <= due) return;
    this.#clearTtlTimer();
    this.#ttlDue = due;
    // Capped: Node fires a longer timeout at once. An early wake-up expires nothing and re-arms.
    this.#ttlTimer = setTimeout(this.#onTtlTimer, Math.min(MAX_TIMEOUT_MS, Math.max(0, due - Date.now())));
    this.#ttlTimer.unref();
  }

  readonly #onTtlTimer = (): void => {
    this.#ttlTimer = undefined;
    if (this.#deleted) return;
    try {
      this.#dropExpired(Date.now());
      this.#armTtl();
      if (this.#flowWaiters !== undefined && this.#readyCount <= this.#flowLow) this.#drained();
    } catch (err) {
      this.#log.error({ err, queue: this.name }, 'message expiry failed');
    }
  };

  #clearTtlTimer(): void {
    if (this.#ttlTimer !== undefined) clearTimeout(this.#ttlTimer);
    this.#ttlTimer = undefined;
  }

  /** (Re)starts the `x-expires` countdown while the queue has no consumers. */
  #armExpires(): void {
    const ms = this.settings.expiresMs;
    if (ms < 0) return;
    if (this.#expiresTimer !== undefined) clearTimeout(this.#expiresTimer);
    this.#expiresTimer = undefined;
    if (this.#deleted || this.#consumers.length > 0) return;
    this.#waitUntilExpired(Date.now() + ms);
  }

  // In steps of at most MAX_TIMEOUT_MS: Node fires a longer timeout at once (x-expires may be up to 2^32-1).
  #waitUntilExpired(deadline: number): void {
    this.#expiresTimer = setTimeout(
      () => {
        this.#expiresTimer = undefined;
        if (Date.now() < deadline) {
          if (!this.#deleted && this.#consumers.length === 0) this.#waitUntilExpired(deadline);
          return;
        }
        try {
          if (!this.#deleted && this.#consumers.length === 0) this.onExpired?.(this);
        } catch (err) {
          this.#log.error({ err, queue: this.name }, 'deleting the expired queue failed');
        }
      },
      Math.min(MAX_TIMEOUT_MS, Math.max(0, deadline - Date.now())),
    );
    this.#expiresTimer.unref();
  }

  /** First hand-over of a stored message: the store marks it (it comes back redelivered). */
  #delivered(entry: QueueEntry): void {
    this.stats.deliverGet++;
    if (entry.redelivered) this.stats.redeliver++;
    if (
      this.store !== undefined &&
      !entry.redelivered &&
      !entry.released &&
      entry.message.stored !== undefined
    )
      this.store.delivered(this, entry.message);
  }

  #release(entry: QueueEntry): void {
    if (entry.released) return;
    entry.released = true;
    if (this.store !== undefined && entry.message.stored !== undefined)
      this.store.released(this, entry.message);
  }

  #deadLetter(message: Message, reason: DeadLetterReason): void {
    if (this.settings.deadLetterExchange === undefined || this.onDeadLetter === undefined) return;
    try {
      this.onDeadLetter(this, message, reason);
    } catch (err) {
      // The message has left this queue already: it is dropped, the queue stays consistent.
      this.#log.error({ err, queue: this.name, reason }, 'dead-lettering failed: message dropped');
    }
  }

  /** Round-robin among the highest-priority consumers that can take a message. */
  #pickConsumer(): QueueConsumer | undefined {
    if (this.settings.singleActiveConsumer) {
      const active = this.#active;
      return active?.canDeliver() ? active : undefined;
    }
    const consumers = this.#consumers;
    const n = consumers.length;
    // Consumers are sorted by priority: find the first priority level with an available consumer.
    let levelStart = 0;
    while (levelStart < n) {
      const priority = consumers[levelStart]!.priority;
      let levelEnd = levelStart;
      while (levelEnd < n && consumers[levelEnd]!.priority === priority) levelEnd++;
      const size = levelEnd - levelStart;
      const start = this.#rr >= levelStart && this.#rr < levelEnd ? this.#rr - levelStart : 0;
      for (let k = 0; k < size; k++) {
        const idx = levelStart + ((start + k) % size);
        const c = consumers[idx]!;
        if (c.canDeliver()) {
          this.#rr = levelStart + ((idx - levelStart + 1) % size);
          return c;
        }
      }
      levelStart = levelEnd;
    }
    return undefined;
  }
}

/** The lower of the queue's TTL and the message's `expiration` (-1: no TTL). */
function effectiveTtl(queueTtlMs: number, message: Message): number {
  const m = message.expirationMs;
  if (m < 0) return queueTtlMs;
  return queueTtlMs < 0 ? m : Math.min(m, queueTtlMs);
}

function bySeqDescending(a: QueueEntry, b: QueueEntry): number {
  return b.seq - a.seq;
}
