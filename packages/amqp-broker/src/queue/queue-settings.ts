/**
 * The queue arguments that change a queue's behaviour, read once at declare time (they were validated by
 * the vhost before the queue was created).
 */
import { type FieldTable, fieldInteger, fieldString } from '../codec/field-table.js';

export type OverflowMode = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

export interface QueueSettings {
  /** `x-message-ttl` in milliseconds, or -1. */
  readonly messageTtlMs: number;
  /** `x-expires` in milliseconds, or -1. */
  readonly expiresMs: number;
  /** `x-max-length`, or -1. */
  readonly maxLength: number;
  /** `x-max-length-bytes` (sum of ready message bodies), or -1. */
  readonly maxLengthBytes: number;
  readonly overflow: OverflowMode;
  /** `x-dead-letter-exchange`, or undefined. */
  readonly deadLetterExchange: string | undefined;
  readonly deadLetterRoutingKey: string | undefined;
  /** `x-max-priority`; 0 for a queue without priorities. */
  readonly maxPriority: number;
  readonly singleActiveConsumer: boolean;
}

export function queueSettings(args: FieldTable): QueueSettings {
  const int = (key: string): number => fieldInteger(args.get(key)) ?? -1;
  const overflow = fieldString(args.get('x-overflow'));
  const sac = args.get('x-single-active-consumer');
  return {
    messageTtlMs: int('x-message-ttl'),
    expiresMs: int('x-expires'),
    maxLength: int('x-max-length'),
    maxLengthBytes: int('x-max-length-bytes'),
    overflow: overflow === 'reject-publish' || overflow === 'reject-publish-dlx' ? overflow : 'drop-head',
    deadLetterExchange: fieldString(args.get('x-dead-letter-exchange')),
    deadLetterRoutingKey: fieldString(args.get('x-dead-letter-routing-key')),
    maxPriority: Math.max(0, int('x-max-priority')),
    singleActiveConsumer: sac?.type === 'bool' && sac.value,
  };
}
