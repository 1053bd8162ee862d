/** The original's main tube when `NameOfMainQueue` is absent (deployments usually set `event_center_messages`). */
export const DEFAULT_MAIN_TUBE = 'main-incoming-queue';
/** The original's `PrefixOfChannelQueue`. */
export const DEFAULT_CHANNEL_PREFIX = 'sub-queue/';

/** Channel tube of a subscription: `<topic>/<prefix><subscriptionId>` (`order.paid/sub-queue/7`). */
export function channelTube(topic: string, subscriptionId: number, prefix = DEFAULT_CHANNEL_PREFIX): string {
  return `${topic}/${prefix}${subscriptionId}`;
}

/** Retry tube of a subscription: the channel tube + `/FAIL`. */
export function retryTube(topic: string, subscriptionId: number, prefix = DEFAULT_CHANNEL_PREFIX): string {
  return `${channelTube(topic, subscriptionId, prefix)}/FAIL`;
}

/** Dead-letter tube (ours; the original deleted such jobs): the channel tube + `/DEAD`. */
export function deadLetterTube(
  topic: string,
  subscriptionId: number,
  prefix = DEFAULT_CHANNEL_PREFIX,
): string {
  return `${channelTube(topic, subscriptionId, prefix)}/DEAD`;
}

/** The push `jobid`: `<time with 6 decimals>-<originJobId>-<subscriptionId>`, as Go's `%f-%v-%v`. */
export function pushJobId(time: number, originJobId: number, subscriptionId: number): string {
  return `${time.toFixed(6)}-${originJobId}-${subscriptionId}`;
}
