import type { Message } from './message.js';

/** One message in one queue. */
export interface QueueEntry {
  readonly message: Message;
  /** Position in the queue: increases with every enqueue, kept on requeue. */
  readonly seq: number;
  /** Epoch milliseconds at which the message expires while ready; 0 when it never does. */
  readonly expiresAt: number;
  /** Priority level in this queue (0 unless the queue has `x-max-priority`). */
  readonly level: number;
  redelivered: boolean;
  /** The queue is done with it (acked, dropped, dead-lettered): its stored copy was released. */
  released?: boolean;
}
