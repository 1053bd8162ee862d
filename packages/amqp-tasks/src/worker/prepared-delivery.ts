import type { ConsumeMessage } from 'amqplib';
import type { AnyTaskConfig } from '../task-config.js';
import type { ChannelSlot } from './channel-slot.js';

/** A delivery decoded, looked up and validated: ready to run. */
export interface PreparedDelivery {
  readonly slot: ChannelSlot;
  readonly msg: ConsumeMessage;
  readonly uuid: string;
  readonly name: string;
  readonly args: unknown;
  readonly config: AnyTaskConfig;
  readonly attempt: number;
  readonly firstAttemptAt: number;
  readonly headers: Record<string, unknown>;
}
