/**
 * Publisher confirms of one channel in confirm mode. Every publish gets the next delivery tag and a
 * {@link PendingHolds}: the channel holds it while routing, a durable queue may add a hold until the
 * message is in its log, and so on. The confirm goes out once every hold is released — basic.ack — or as
 * soon as one fails — basic.nack. Holds may be released in any order.
 *
 *   tag state:  pending ──last hold released──▶ ready ──flush()──▶ acked
 *                  └──────a hold failed──────────────────────────▶ nacked (at once)
 *
 * Acks are sent on {@link ConfirmTracker.flush} (the end of a read batch), coalesced as RabbitMQ does:
 * the ready tags below the lowest tag still pending (and below a tag being nacked) go as one basic.ack
 * with multiple=true when there is more than one of them — every tag it covers is then confirmed, so
 * clients never see a pending tag acked —; ready tags above a pending one go one by one (multiple=false).
 * A nack first sends the acks that are ready, then basic.nack for its tag alone.
 */
import { PendingHolds } from '../../store/pending-holds.js';

/** Where the confirms go (the channel: basic.ack / basic.nack to its client). */
export interface ConfirmSink {
  ack(tag: number, multiple: boolean): void;
  nack(tag: number): void;
  /** Acks are ready: call {@link ConfirmTracker.flush} soon (at the end of the read batch). */
  ready(): void;
}

export class ConfirmTracker {
  readonly #sink: ConfirmSink;
  #nextTag = 1;
  /** Every tag below it is settled (its confirm sent or ready); the lowest pending tag is at or above. */
  #low = 1;
  /** Tags whose holds are not all released. */
  readonly #pending = new Set<number>();
  /** Settled tags whose basic.ack is not sent yet; ascending unless `#unsorted`. */
  #ready: number[] = [];
  #unsorted = false;
  #closed = false;

  constructor(sink: ConfirmSink) {
    this.#sink = sink;
  }

  /** The tag the next {@link track} assigns. */
  get nextTag(): number {
    return this.#nextTag;
  }

  /** Publishes whose confirm is not sent yet. */
  get unconfirmed(): number {
    return this.#pending.size + this.#ready.length;
  }

  /**
   * A message was published: it gets the next delivery tag. The caller holds the returned handle (its
   * owner's hold) and releases it once routed, or fails it when a queue refused the message; whoever
   * must finish something first (a durable queue) takes `handle.hold()` and releases that later.
   */
  track(): PendingHolds {
    const tag = this.#nextTag++;
    this.#pending.add(tag);
    return new PendingHolds((ok) => this.#settled(tag, ok));
  }

  /** Sends the acks that are ready. */
  flush(): void {
    this.#sendReady(Number.POSITIVE_INFINITY);
  }

  /** The channel closed: nothing more is sent, whatever is released later. */
  close(): void {
    this.#closed = true;
    this.#pending.clear();
    this.#ready = [];
  }

  #settled(tag: number, ok: boolean): void {
    if (this.#closed) return;
    this.#pending.delete(tag);
    if (ok) {
      const ready = this.#ready;
      if (ready.length > 0 && ready[ready.length - 1]! > tag) this.#unsorted = true;
      ready.push(tag);
      this.#sink.ready();
      return;
    }
    // A multiple ack sent after the nack may then cover this tag: the client has settled it already.
    this.#sendReady(tag);
    this.#sink.nack(tag);
  }

  /** Sends every ready ack: those below `limit` and the lowest pending tag coalesced, the rest singly. */
  #sendReady(limit: number): void {
    const ready = this.#ready;
    if (ready.length === 0) return;
    if (this.#unsorted) {
      ready.sort((a, b) => a - b);
      this.#unsorted = false;
    }
    this.#ready = [];
    const cutoff = Math.min(limit, this.#lowestPending());
    let i = 0;
    while (i < ready.length && ready[i]! < cutoff) i++;
    if (i > 0) this.#sink.ack(ready[i - 1]!, i > 1);
    for (; i < ready.length; i++) this.#sink.ack(ready[i]!, false);
  }

  #lowestPending(): number {
    while (this.#low < this.#nextTag && !this.#pending.has(this.#low)) this.#low++;
    return this.#low < this.#nextTag ? this.#low : Number.POSITIVE_INFINITY;
  }
}
