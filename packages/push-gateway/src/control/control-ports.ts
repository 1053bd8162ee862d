import type { LegacyParamsPatch, LegacySubscriptionParams } from './legacy-params.js';

/**
 * What the control plane (REST API and legacy RPC) needs from the engine. The engine (or the app's wiring)
 * implements these; the control plane never touches beanstalkd, MySQL or the senders directly.
 */

/** A subscription as the control plane shows it. */
export interface ControlSubscription {
  id: number;
  /** The topic (`message_classes.class_key`). */
  topic: string;
  subscriberId?: number;
  /** Endpoint URLs, one per line, as `ReceptionUri`. */
  receptionUri: string;
  /** Present (and false) when the subscription is switched off. */
  enabled: boolean;
}

/** Input of a subscription created in Redis-only mode. */
export interface NewSubscription {
  id?: number;
  topic: string;
  subscriberId?: number;
  receptionUri: string;
  enabled?: boolean;
}

/** Subscriptions and their parameters. In MySQL mode `readOnly` is true: only parameters can change. */
export interface SubscriptionAdmin {
  readonly readOnly: boolean;
  list(): Promise<ControlSubscription[]>;
  /** Undefined when there is none with this id. */
  get(id: number): Promise<ControlSubscription | undefined>;
  /** Redis-only mode; throws `DSP_PUSH_CONFLICT` when the id exists. */
  create(input: NewSubscription): Promise<ControlSubscription>;
  /** Redis-only mode; throws `DSP_PUSH_NOT_FOUND`. */
  update(id: number, patch: Partial<NewSubscription>): Promise<ControlSubscription>;
  /** Redis-only mode; false when there was none. */
  remove(id: number): Promise<boolean>;
  /** Effective parameters (stored values over the defaults); throws `DSP_PUSH_NOT_FOUND`. */
  getParams(id: number): Promise<LegacySubscriptionParams>;
  /** Stores a patch so every instance picks it up; returns the effective parameters. */
  setParams(id: number, patch: LegacyParamsPatch): Promise<LegacySubscriptionParams>;
  /** Drops cached subscriptions and parameters (all, or keys with one of the prefixes); returns what was dropped. */
  clearCache(prefixes?: readonly string[]): Promise<number>;
}

/** The senders of one subscription can be held while its tubes are cleared. */
export interface ChannelPauser {
  pause(subscriptionId: number): Promise<void>;
  resume(subscriptionId: number): Promise<void>;
}

/** A dead letter of a subscription (a job parked after its last attempt). */
export interface DeadLetter {
  /** `<server>/<jobId>`: unique across the beanstalkd servers. */
  id: string;
  subscriptionId: number;
  topic: string;
  /** The message body (JSON-decodable value of the job's Body). */
  body: unknown;
  retryTimes: number;
  /** Original time of the message, epoch seconds. */
  time?: number;
  lastError?: string;
}

/** Edits applied when a dead letter is redriven. */
export interface RedriveEdits {
  body?: unknown;
  /** Seconds before the redriven job becomes ready. @defaultValue 0 */
  delaySeconds?: number;
}

/** Dead letters per subscription. */
export interface DeadLetterAdmin {
  list(subscriptionId: number, options?: { limit?: number }): Promise<DeadLetter[]>;
  /** Puts the job back on the subscription's channel tube (with edits); throws `DSP_PUSH_NOT_FOUND`. */
  redrive(subscriptionId: number, id: string, edits?: RedriveEdits): Promise<void>;
  /** False when it was not there. */
  remove(subscriptionId: number, id: string): Promise<boolean>;
}

/** What one clear did, per tube and server. */
export interface ClearReport {
  /** Jobs deleted, summed over tubes and servers. */
  deleted: number;
  tubes: { server: string; tube: string; deleted: number }[];
}

/** Clears the queues of a subscription or of every subscription of a topic. */
export interface QueueClearing {
  clearSubscription(subscriptionId: number, options?: { signal?: AbortSignal }): Promise<ClearReport>;
  clearTopic(topic: string, options?: { signal?: AbortSignal }): Promise<ClearReport>;
}

/** A Prometheus registry (prom-client's `Registry` fits). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}
