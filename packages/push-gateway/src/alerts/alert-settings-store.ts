import type { Redis } from 'ioredis';

/** Fleet-wide alert settings: the default receiver and the global backlog thresholds (`SetDefaultAlarm`). */
export interface DefaultAlarmSettings {
  /** Receiver of alerts for subscriptions without their own, e.g. a team name or address list. @defaultValue `''` */
  DefaultAlarmReceiver: string;
  /** Channel of the default receiver as the alarm platform names it (`type`). @defaultValue `''` */
  DefaultAlarmChan: string;
  /** Ready jobs summed over all channel tubes that trigger an alert; 0 = off. @defaultValue `0` */
  GlobalMessageBlockedAlertThreshold: number;
  /** Seconds between two global / main-tube backlog alerts. @defaultValue `180` */
  GlobalMessageBlockedAlarmInterval: number;
  /** Ready jobs in the main tube that trigger an alert; 0 = off. @defaultValue `0` */
  NameOfMainQueueBlockedAlertThreshold: number;
}

/** Defaults of {@link DefaultAlarmSettings}. */
export const DEFAULT_ALARM_SETTINGS: DefaultAlarmSettings = {
  DefaultAlarmReceiver: '',
  DefaultAlarmChan: '',
  GlobalMessageBlockedAlertThreshold: 0,
  GlobalMessageBlockedAlarmInterval: 180,
  NameOfMainQueueBlockedAlertThreshold: 0,
};

const NUMERIC = new Set<keyof DefaultAlarmSettings>([
  'GlobalMessageBlockedAlertThreshold',
  'GlobalMessageBlockedAlarmInterval',
  'NameOfMainQueueBlockedAlertThreshold',
]);

/**
 * Keeps {@link DefaultAlarmSettings} in one Redis hash so a change made through any instance (RPC
 * `SetDefaultAlarm` or the REST API) applies on all of them; values from the config file are the base.
 */
export class AlertSettingsStore {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #base: DefaultAlarmSettings;

  /**
   * @param base settings from the config file, overridden by what is stored.
   * @param key the Redis hash. @defaultValue `'dsp:push:alerts:default'`
   */
  constructor(redis: Redis, base: Partial<DefaultAlarmSettings> = {}, key = 'dsp:push:alerts:default') {
    this.#redis = redis;
    this.#key = key;
    this.#base = { ...DEFAULT_ALARM_SETTINGS, ...base };
  }

  async get(): Promise<DefaultAlarmSettings> {
    const stored = await this.#redis.hgetall(this.#key);
    const out: DefaultAlarmSettings = { ...this.#base };
    for (const [k, v] of Object.entries(stored)) {
      if (!(k in out)) continue;
      const name = k as keyof DefaultAlarmSettings;
      if (NUMERIC.has(name)) (out as unknown as Record<string, number>)[name] = Number(v);
      else (out as unknown as Record<string, string>)[name] = v;
    }
    return out;
  }

  /** Stores the given fields; returns the settings now in force. */
  async setDefaultAlarm(patch: Partial<DefaultAlarmSettings>): Promise<DefaultAlarmSettings> {
    const fields = Object.entries(patch).filter(([, v]) => v !== undefined);
    if (fields.length > 0)
      await this.#redis.hset(this.#key, Object.fromEntries(fields.map(([k, v]) => [k, String(v)])));
    return this.get();
  }
}
