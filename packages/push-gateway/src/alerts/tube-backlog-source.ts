import { channelTube, DEFAULT_CHANNEL_PREFIX, retryTube } from '../job/tube-names.js';
import type { TubeStatsProvider } from '../stats/push-metrics.js';
import type { Subscription } from '../subscriptions/subscription.js';
import type { BacklogSnapshot, BacklogSource } from './alert-manager.js';

/** Options of {@link tubeBacklogSource}. */
export interface TubeBacklogSourceOptions {
  tubes: TubeStatsProvider;
  subscriptions: { list(): Promise<Subscription[]> };
  mainTube: string;
  /** @defaultValue `'sub-queue/'` */
  channelPrefix?: string;
}

/** Ready jobs of the main tube and of every subscription's channel and retry tubes, summed over the servers. */
export function tubeBacklogSource(options: TubeBacklogSourceOptions): BacklogSource {
  const prefix = options.channelPrefix ?? DEFAULT_CHANNEL_PREFIX;
  return {
    async backlog(call = {}): Promise<BacklogSnapshot> {
      const [{ depths }, subs] = await Promise.all([
        options.tubes.tubeDepths(call),
        options.subscriptions.list(),
      ]);
      const ready = new Map<string, number>();
      for (const d of depths) ready.set(d.tube, (ready.get(d.tube) ?? 0) + d.ready);
      return {
        main: ready.get(options.mainTube) ?? 0,
        channels: subs.map((s) => ({
          subscriptionId: s.id,
          ready: ready.get(channelTube(s.topic, s.id, prefix)) ?? 0,
          retryReady: ready.get(retryTube(s.topic, s.id, prefix)) ?? 0,
        })),
      };
    },
  };
}
