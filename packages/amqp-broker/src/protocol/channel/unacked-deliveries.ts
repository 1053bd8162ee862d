/**
 * The deliveries of one channel that wait for basic.ack/nack/reject, and the credit they use: each
 * consumer's prefetch (basic.qos global=false, fixed when it consumes) and the channel's (global=true,
 * counting deliveries to consumers only, as RabbitMQ reinterprets it). basic.get deliveries are unacked
 * too but use no credit.
 *
 *   delivery tag:  unacked ──ack/nack/reject (taken)──▶ settled (applied to its queue, credit released)
 *                     ▲              │ inside a transaction: taken, applied on commit
 *                     └──rollback────┘
 *
 * Settling frees credit, so the queues involved are given a chance to deliver again.
 */
import { PRECONDITION_FAILED } from '../../codec/generated/amqp-spec.js';
import { channelError } from '../../errors.js';
import type { Queue, QueueEntry } from '../../queue/queue.js';
import type { ChannelConsumer } from './channel-consumer.js';

export interface Unacked {
  readonly tag: number;
  readonly queue: Queue;
  readonly entry: QueueEntry;
  /** Undefined for basic.get deliveries (no credit used). */
  readonly consumer: ChannelConsumer | undefined;
}

/** What settling does to a delivery's message: gone, back in its queue, or rejected (dead-lettered). */
export type SettleKind = 'ack' | 'requeue' | 'reject';

export class UnackedDeliveries {
  readonly #byTag = new Map<number, Unacked>();
  /** Unacked deliveries made to consumers (the global prefetch counts these). */
  #consumerUnacked = 0;
  #prefetch = 0;
  #globalPrefetch = 0;
  /** Lets every consumer's queue deliver (used when the global prefetch frees credit). */
  readonly #resumeAll: () => void;

  constructor(resumeAll: () => void) {
    this.#resumeAll = resumeAll;
  }

  get size(): number {
    return this.#byTag.size;
  }

  /** Prefetch of consumers created from now on (0: unlimited). */
  get prefetch(): number {
    return this.#prefetch;
  }

  /** basic.qos: global=false limits each consumer created afterwards, global=true the channel. */
  qos(prefetchCount: number, global: boolean): void {
    if (global) this.#globalPrefetch = prefetchCount;
    else this.#prefetch = prefetchCount;
  }

  /** True when `consumer` has credit for one more delivery. */
  hasCredit(consumer: ChannelConsumer): boolean {
    if (consumer.noAck) return true;
    if (consumer.prefetch !== 0 && consumer.unacked >= consumer.prefetch) return false;
    return this.#globalPrefetch === 0 || this.#consumerUnacked < this.#globalPrefetch;
  }

  /** A delivery the client must settle (a consumer's uses its credit). */
  add(tag: number, queue: Queue, entry: QueueEntry, consumer: ChannelConsumer | undefined): void {
    this.#byTag.set(tag, { tag, queue, entry, consumer });
    if (consumer !== undefined) {
      consumer.unacked++;
      this.#consumerUnacked++;
    }
  }

  /** basic.ack of one tag: settles it and lets its queue deliver; false when the tag is not unacked. */
  ackOne(tag: number): boolean {
    const u = this.#byTag.get(tag);
    if (u === undefined) return false;
    this.#byTag.delete(tag);
    u.queue.ack(u.entry);
    if (u.consumer !== undefined) {
      u.consumer.unacked--;
      this.#consumerUnacked--;
    }
    if (this.#globalPrefetch !== 0) this.#resumeAll();
    else if (u.consumer !== undefined) u.queue.dispatch();
    return true;
  }

  /**
   * Removes and returns the deliveries an ack/nack of (tag, multiple) covers (406 when none is). Their
   * credit is still used until they are {@link apply}'d.
   */
  take(tag: number, multiple: boolean): Unacked[] {
    const taken: Unacked[] = [];
    if (multiple) {
      for (const [t, u] of this.#byTag) {
        if (tag !== 0 && t > tag) break;
        this.#byTag.delete(t);
        taken.push(u);
      }
    } else {
      const u = this.#byTag.get(tag);
      if (u !== undefined) {
        this.#byTag.delete(tag);
        taken.push(u);
      }
    }
    if (taken.length === 0 && !(multiple && tag === 0)) {
      throw channelError(PRECONDITION_FAILED, `unknown delivery tag ${tag}`);
    }
    return taken;
  }

  /** Settles taken deliveries: releases their credit and applies `kind` to their queues. */
  apply(kind: SettleKind, taken: readonly Unacked[]): void {
    this.#releaseCredit(taken);
    if (kind === 'ack') for (const u of taken) u.queue.ack(u.entry);
    else if (kind === 'requeue') requeue(taken);
    else for (const u of taken) u.queue.reject(u.entry);
  }

  /** {@link apply}, then lets the queues deliver with the credit freed. */
  settle(kind: SettleKind, taken: readonly Unacked[]): void {
    this.apply(kind, taken);
    this.wake(taken);
  }

  /** Credit was freed by settling `taken`: let the affected queues deliver again. */
  wake(taken: readonly Unacked[]): void {
    if (taken.length === 0) return;
    if (this.#globalPrefetch !== 0) {
      this.#resumeAll();
      return;
    }
    const queues = new Set<Queue>();
    for (const u of taken) if (u.consumer !== undefined) queues.add(u.queue);
    for (const q of queues) q.dispatch();
  }

  /** Puts taken deliveries back (an uncommitted transaction's), in tag order. */
  restore(taken: readonly Unacked[]): void {
    if (taken.length === 0) return;
    const all = [...this.#byTag.values(), ...taken];
    all.sort((a, b) => a.tag - b.tag);
    this.#byTag.clear();
    for (const u of all) this.#byTag.set(u.tag, u);
  }

  /** basic.recover, channel close: every unacked delivery goes back to its queue, credit released. */
  requeueAll(): void {
    const all = [...this.#byTag.values()];
    this.#byTag.clear();
    this.apply('requeue', all);
  }

  #releaseCredit(taken: readonly Unacked[]): void {
    for (const u of taken) {
      if (u.consumer !== undefined) {
        u.consumer.unacked--;
        this.#consumerUnacked--;
      }
    }
  }
}

/** Requeues entries queue by queue (each queue puts its own back in their original positions). */
function requeue(entries: readonly Unacked[]): void {
  const byQueue = new Map<Queue, QueueEntry[]>();
  for (const u of entries) {
    let list = byQueue.get(u.queue);
    if (list === undefined) {
      list = [];
      byQueue.set(u.queue, list);
    }
    list.push(u.entry);
  }
  for (const [q, list] of byQueue) q.requeue(list);
}
