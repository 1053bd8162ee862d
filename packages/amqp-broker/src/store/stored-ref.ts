// Its own module, below both `queue/message.ts` and `store/message-store.ts`: a message names its stored
// record without importing the store, which imports `Message`.
export type RefState = 'pending' | 'durable' | 'failed';

/** A stored message, shared by the queues holding it (`Message.stored`). */
export class StoredRef {
  state: RefState = 'pending';
  /** Resolves once the record is durable; rejects when it could not be written. */
  readonly durable: Promise<void>;
  /** REMOVED and DELIVERED marks about this message, acked with it. */
  marks: number[] | undefined;
  /** Queues that wrote a DELIVERED mark (or recovered with one). */
  delivered: string[] | undefined;

  constructor(
    readonly seq: number,
    /** Queues still holding the message. */
    public holders: number,
    durable: Promise<void>,
  ) {
    this.durable = durable;
  }
}
