/**
 * The open transaction of a channel in tx mode, with RabbitMQ's semantics: a publish is routed when it
 * arrives and delivered on commit to those queues (by name); an ack/nack/reject takes its deliveries out
 * of the unacked set at once (an unknown tag fails there, with 406) and settles them on commit; rollback
 * gives them back, and so does closing the channel (they are then requeued like every unacked delivery).
 *
 *   open ──publish / ack / nack / reject──▶ open
 *     │ └──tx.rollback / channel closed──▶ open (empty; taken deliveries handed back)
 *     └──tx.commit──▶ committing (work handed out, holds pending) ──last hold released──▶ open: commit-ok
 *
 * A commit hands its work to the channel, which applies it at once (nothing in it can fail any more)
 * while holding the commit's {@link PendingHolds}; whatever must finish before the client hears
 * tx.commit-ok (a durable queue writing the messages) takes a hold of it and releases it later.
 */
import type { BasicPublish } from '../../codec/generated/amqp-spec.js';
import type { Message } from '../../queue/message.js';
import { PendingHolds } from '../../store/pending-holds.js';
import type { RoutedMessage } from '../../vhost/virtual-host.js';
import type { SettleKind, Unacked } from './unacked-deliveries.js';

/** A publish inside a transaction: routed when it arrived, delivered on commit. */
export interface TxPublish {
  readonly publish: BasicPublish;
  readonly message: Message;
  readonly routed: RoutedMessage;
}

/** An ack/nack/reject inside a transaction: its deliveries, already out of the unacked set. */
export interface TxSettle {
  readonly kind: SettleKind;
  readonly taken: readonly Unacked[];
}

/** What a commit applies, in this order, while holding `holds`. */
export interface TxCommit {
  readonly publishes: readonly TxPublish[];
  readonly settles: readonly TxSettle[];
  readonly holds: PendingHolds;
}

export class Transaction {
  #publishes: TxPublish[] = [];
  #settles: TxSettle[] = [];

  /** Deliveries taken by the transaction and not settled yet (the channel still consumes). */
  get holdsDeliveries(): boolean {
    return this.#settles.length > 0;
  }

  publish(p: TxPublish): void {
    this.#publishes.push(p);
  }

  settle(kind: SettleKind, taken: readonly Unacked[]): void {
    this.#settles.push({ kind, taken });
  }

  /**
   * tx.commit: hands out the work done since the last commit or rollback, and the holds the client's
   * commit-ok waits for; `onCommitted` runs once they are all released (false: one failed).
   */
  commit(onCommitted: (ok: boolean) => void): TxCommit {
    const holds = new PendingHolds(onCommitted);
    const work = { publishes: this.#publishes, settles: this.#settles, holds };
    this.#publishes = [];
    this.#settles = [];
    return work;
  }

  /** tx.rollback or the channel closed: publishes are dropped; returns the deliveries to hand back. */
  rollback(): Unacked[] {
    const taken: Unacked[] = [];
    for (const s of this.#settles) taken.push(...s.taken);
    this.#publishes = [];
    this.#settles = [];
    return taken;
  }
}
