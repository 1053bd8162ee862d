import { z } from 'zod';
import { PushError } from '../../errors.js';
import type { LegacyPushStatistics } from '../../stats/push-stats.js';
import type { SubscriptionAdmin } from '../control-ports.js';
import { legacyParamsPatchSchema, subscriptionIdSchema } from '../legacy-params.js';

/** One RPC command: takes the request's `args` object, resolves with the value sent back as JSON. */
export type RpcCommand = (args: Record<string, unknown>, signal: AbortSignal) => Promise<unknown>;

/** The default-alarm settings `SetDefaultAlarm` changes (the original's config keys). */
export interface DefaultAlarmPatch {
  DefaultAlarmReceiver?: string;
  DefaultAlarmChan?: string;
  GlobalMessageBlockedAlertThreshold?: number;
  GlobalMessageBlockedAlarmInterval?: number;
  NameOfMainQueueBlockedAlertThreshold?: number;
}

/** Where `SetDefaultAlarm` stores its settings (shared by all instances, e.g. {@link AlertSettingsStore}). */
export interface DefaultAlarmSink {
  setDefaultAlarm(patch: DefaultAlarmPatch): Promise<unknown>;
}

/** Source of `GetPushStatistics`. */
export interface LegacyStatsSource {
  legacySnapshot(): Promise<LegacyPushStatistics>;
}

/** Clears a tube on beanstalkd servers for `CleanTopic`. */
export interface TubeCleaner {
  /** Resolves when the tube holds none of the jobs it held at the start; with the number deleted. */
  clearTube(tube: string, servers: readonly string[]): Promise<{ deleted: number }>;
}

/** What the legacy commands work on. */
export interface LegacyRpcDeps {
  subscriptions: SubscriptionAdmin;
  /** Values for `GetDefaultSubscriptionSettings` (MaxSendersPerChannel, SendersPerChannel, …). */
  defaultSettings: () => Record<string, number>;
  alarms: DefaultAlarmSink;
  stats: LegacyStatsSource;
  cleaner?: TubeCleaner;
  /** Called with the `CleanTopic` callback URL once the clearing is done (`&state=done` appended). */
  notify?: (url: string) => Promise<void>;
  /** Failures of background work (`CleanTopic`). */
  onBackgroundError?: (err: unknown) => void;
}

const idArgs = z.object({ SubscriptionId: subscriptionIdSchema });
const setArgs = z.object({
  SubscriptionId: subscriptionIdSchema,
  Params: z.record(z.string(), z.unknown()),
});
const str = z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string().max(4096));
const int = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
  z.number().int().nonnegative(),
);
const alarmArgs = z.object({
  default_alarm_receiver: str.optional(),
  default_alarm_chan: str.optional(),
  global_message_blocked_alert_threshold: int.optional(),
  global_message_blocked_alarm_interval: int.optional(),
  name_of_main_queue_blocked_alert_threshold: int.optional(),
});
const cleanArgs = z.object({
  servers: z.array(z.string().min(1)).min(1),
  topic: z.string().min(1).max(200),
  callback: z.string().optional(),
});

function parse<T>(schema: z.ZodType<T>, args: unknown, cmd: string): T {
  const result = schema.safeParse(args);
  if (result.success) return result.data;
  const detail = result.error.issues.map((i) => `${i.path.join('.') || '(args)'}: ${i.message}`).join('; ');
  throw new PushError('DSP_PUSH_INVALID_ARGUMENT', `${cmd}: ${detail}`);
}

/**
 * The original's RPC commands: GetSubscriptionParams, SetSubscriptionParams, GetDefaultSubscriptionSettings,
 * ClearDataCache, SetDefaultAlarm, GetPushStatistics and CleanTopic (when a cleaner is given).
 */
export function legacyRpcCommands(deps: LegacyRpcDeps): Map<string, RpcCommand> {
  const commands = new Map<string, RpcCommand>();
  commands.set('GetSubscriptionParams', async (args) => {
    const { SubscriptionId } = parse(idArgs, args, 'GetSubscriptionParams');
    return deps.subscriptions.getParams(SubscriptionId);
  });
  commands.set('SetSubscriptionParams', async (args) => {
    const { SubscriptionId, Params } = parse(setArgs, args, 'SetSubscriptionParams');
    const patch = parse(legacyParamsPatchSchema, Params, 'SetSubscriptionParams');
    await deps.subscriptions.setParams(SubscriptionId, patch);
    return true;
  });
  commands.set('GetDefaultSubscriptionSettings', async () => deps.defaultSettings());
  commands.set('ClearDataCache', async (args) => {
    // Like the original: no args flushes everything; otherwise every value is a list of key prefixes.
    const lists = Object.values(args);
    if (lists.length === 0) return deps.subscriptions.clearCache();
    const prefixes = parse(z.array(z.array(z.string())), lists, 'ClearDataCache').flat();
    return deps.subscriptions.clearCache(prefixes);
  });
  commands.set('SetDefaultAlarm', async (args) => {
    const a = parse(alarmArgs, args, 'SetDefaultAlarm');
    const patch: DefaultAlarmPatch = {};
    if (a.default_alarm_receiver !== undefined) patch.DefaultAlarmReceiver = a.default_alarm_receiver;
    if (a.default_alarm_chan !== undefined) patch.DefaultAlarmChan = a.default_alarm_chan;
    if (a.global_message_blocked_alert_threshold !== undefined) {
      patch.GlobalMessageBlockedAlertThreshold = a.global_message_blocked_alert_threshold;
    }
    if (a.global_message_blocked_alarm_interval !== undefined) {
      patch.GlobalMessageBlockedAlarmInterval = a.global_message_blocked_alarm_interval;
    }
    if (a.name_of_main_queue_blocked_alert_threshold !== undefined) {
      patch.NameOfMainQueueBlockedAlertThreshold = a.name_of_main_queue_blocked_alert_threshold;
    }
    await deps.alarms.setDefaultAlarm(patch);
    return null;
  });
  commands.set('GetPushStatistics', async () => deps.stats.legacySnapshot());
  const cleaner = deps.cleaner;
  if (cleaner) {
    commands.set('CleanTopic', async (args) => {
      const { servers, topic, callback } = parse(cleanArgs, args, 'CleanTopic');
      // The original answers at once and clears in the background, then calls the callback back.
      void cleaner
        .clearTube(topic, servers)
        .then(async () => {
          if (callback && deps.notify) await deps.notify(`${callback}&state=done`);
        })
        .catch((err: unknown) => deps.onBackgroundError?.(err));
      return null;
    });
  }
  return commands;
}
