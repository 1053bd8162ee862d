/**
 * Cumulative message counters of one queue (RabbitMQ's `message_stats`): plain integer fields bumped on
 * the hot path — no allocation per message. Rates are derived elsewhere by sampling these totals.
 */
export class QueueStats {
  /** Messages the queue accepted from publishers. */
  publish = 0;
  /** Messages handed to consumers or to basic.get (RabbitMQ's `deliver_get`). */
  deliverGet = 0;
  /** Deliveries of messages that had been delivered before (RabbitMQ's `redeliver`). */
  redeliver = 0;
  /** Deliveries acknowledged by clients (basic.ack; no-ack deliveries do not count). */
  ack = 0;
}
