/**
 * Dead-lettering: the message a queue republishes to its `x-dead-letter-exchange`, with the `x-death`
 * header written the way RabbitMQ 3.10 writes it:
 *
 * - the first death adds `x-death` = [{count, reason, queue, time, exchange, routing-keys
 *   [, original-expiration]}] (fields in that order) and `x-first-death-exchange/-queue/-reason`;
 * - a later death for the same (queue, reason) increments that entry's `count` (other fields kept) and
 *   moves it to the front; a new (queue, reason) is prepended with count 1. Entries rewritten by a later
 *   death have their fields sorted by name;
 * - the headers table is sorted by name (RabbitMQ re-sorts it when it sets a header);
 * - `expiration` is removed (and kept as `original-expiration`); with `x-dead-letter-routing-key`, the
 *   `CC` header is removed too.
 *
 * RabbitMQ 3.10 writes no `x-last-death-*` headers (3.13 does); neither do we.
 */
import { ByteWriter } from '../codec/byte-writer.js';
import { type FieldTable, type FieldValue, fieldInteger, fieldString, str } from '../codec/field-table.js';
import { type BasicProperties, encodeBasicProperties } from '../codec/generated/amqp-spec.js';
import { Message } from './message.js';

export type DeadLetterReason = 'rejected' | 'expired' | 'maxlen';

/** Where a queue dead-letters to (from its `x-dead-letter-*` arguments). */
export interface DeadLetterTarget {
  readonly exchange: string;
  /** Replaces the routing keys when set. */
  readonly routingKey: string | undefined;
}

/** The message to publish to the dead-letter exchange for `message` dying in queue `queue`. */
export function deadLetteredMessage(
  message: Message,
  reason: DeadLetterReason,
  queue: string,
  target: DeadLetterTarget,
  nowMs: number,
): Message {
  const props: BasicProperties = { ...message.properties };
  const headers: FieldTable = new Map(props.headers ?? []);
  // The first routing key is the one published with; the others come from CC (BCC was stripped).
  const keys: FieldValue[] = [str(message.routingKey)];
  for (const name of ['CC', 'BCC']) {
    const v = headers.get(name);
    if (v?.type === 'array') for (const k of v.value) if (fieldString(k) !== undefined) keys.push(k);
  }
  const info: FieldTable = new Map<string, FieldValue>([
    ['reason', str(reason)],
    ['queue', str(queue)],
    ['time', { type: 'timestamp', value: Math.floor(nowMs / 1000) }],
    ['exchange', str(message.exchange)],
    ['routing-keys', { type: 'array', value: keys }],
  ]);
  if (props.expiration !== undefined) info.set('original-expiration', str(props.expiration));

  const existing = headers.get('x-death');
  if (existing?.type !== 'array') {
    headers.set('x-death', { type: 'array', value: [{ type: 'table', value: withCount(info, 1n) }] });
    headers.set('x-first-death-exchange', str(message.exchange));
    headers.set('x-first-death-reason', str(reason));
    headers.set('x-first-death-queue', str(queue));
  } else {
    let updated: FieldTable | undefined;
    const others: FieldValue[] = [];
    for (const d of existing.value) {
      if (
        updated === undefined &&
        d.type === 'table' &&
        fieldString(d.value.get('queue')) === queue &&
        fieldString(d.value.get('reason')) === reason
      ) {
        const count = fieldInteger(d.value.get('count'));
        updated = new Map(d.value);
        updated.set('count', {
          type: 'int64',
          value: BigInt(count !== undefined && count > 0 ? count + 1 : 1),
        });
      } else {
        others.push(d);
      }
    }
    updated ??= withCount(info, 1n);
    headers.set('x-death', {
      type: 'array',
      value: [{ type: 'table', value: sortedTable(updated) }, ...others],
    });
  }
  if (target.routingKey !== undefined) headers.delete('CC');
  props.headers = sortedTable(headers);
  delete props.expiration;

  const w = new ByteWriter(256, message.strict);
  encodeBasicProperties(w, props);
  const dead = new Message(
    target.exchange,
    target.routingKey ?? message.routingKey,
    w.toBuffer(),
    message.body,
    message.strict,
  );
  if (target.routingKey === undefined) dead.extraRoutingKeys = message.extraRoutingKeys;
  return dead;
}

/**
 * True when dead-lettering `message` (already carrying its new x-death entry) to `queue` would close a
 * fully automatic cycle — the queue is in the death history and no death since was a rejection. RabbitMQ
 * drops the message for such queues; a cycle with a rejection in it is allowed.
 */
export function isDeadLetterCycle(message: Message, reason: DeadLetterReason, queue: string): boolean {
  if (reason === 'rejected') return false;
  const deaths = message.properties.headers?.get('x-death');
  if (deaths?.type !== 'array') return false;
  for (const d of deaths.value) {
    if (d.type !== 'table') return false;
    if (fieldString(d.value.get('reason')) === 'rejected') return false;
    if (fieldString(d.value.get('queue')) === queue) return true;
  }
  return false;
}

function withCount(info: FieldTable, count: bigint): FieldTable {
  return new Map<string, FieldValue>([['count', { type: 'int64', value: count }], ...info]);
}

/** The table with its keys in byte order, as RabbitMQ sorts tables it rewrites. */
function sortedTable(t: FieldTable): FieldTable {
  return new Map([...t.entries()].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
}
