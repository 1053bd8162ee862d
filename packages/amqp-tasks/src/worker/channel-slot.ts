import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { ConfirmTracker } from '../connection/confirm-tracker.js';
import type { DelayQueues } from '../delay-queues.js';
import type { AckBatcher } from './ack-batcher.js';

/** One open channel with its consumer; deliveries remember the slot they came from. */
export interface ChannelSlot {
  readonly channel: ConfirmChannel;
  readonly tracker: ConfirmTracker;
  readonly delayQueues: DelayQueues;
  readonly acks: AckBatcher;
  consumerTag: string | undefined;
  alive: boolean;
}

/** One delivery on the channel it came from: what settling acts on. */
export interface SettleTarget {
  readonly slot: ChannelSlot;
  readonly msg: ConsumeMessage;
}

/** Who a delivery is, for events and logs (it may not have decoded). */
export interface Identity {
  readonly uuid: string;
  readonly name: string;
}

/** Best-effort uuid and name of a message that may not decode, for events and logs. */
export function bodyIdentity(msg: ConsumeMessage): Identity {
  try {
    const body = JSON.parse(msg.content.toString('utf8')) as { uuid?: unknown; name?: unknown };
    return {
      uuid: typeof body.uuid === 'string' ? body.uuid : String(msg.properties.messageId ?? ''),
      name: typeof body.name === 'string' ? body.name : '',
    };
  } catch {
    return { uuid: String(msg.properties.messageId ?? ''), name: '' };
  }
}
