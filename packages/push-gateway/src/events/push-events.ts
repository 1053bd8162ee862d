import { channel } from 'node:diagnostics_channel';

/**
 * `node:diagnostics_channel` names the gateway publishes on. Stats, alerts and metrics subscribe to these; the
 * gateway never imports them. Payload types are below.
 */
export const PushChannels = {
  /** A message was copied from the main tube into a channel tube. Payload {@link RedistributedEvent}. */
  redistributed: 'dispatcher:push:redistributed',
  /** A push succeeded. Payload {@link PushSentEvent}. */
  sent: 'dispatcher:push:sent',
  /** A push failed (it may still be retried). Payload {@link PushFailedEvent}. */
  failed: 'dispatcher:push:failed',
  /** A failed push was scheduled again on the `/FAIL` tube. Payload {@link PushRetryEvent}. */
  retry: 'dispatcher:push:retry',
  /** A message gave up and went to the dead-letter tube. Payload {@link PushDeadLetterEvent}. */
  deadLetter: 'dispatcher:push:dead-letter',
  /** A message was dropped or logged because its channel backlog passed the threshold. Payload {@link BacklogDropEvent}. */
  backlogDrop: 'dispatcher:push:backlog-drop',
} as const;

/** Fields every push event carries. */
export interface PushEventBase {
  readonly topic: string;
  readonly subscriptionId: number;
  /** Main-tube job id of the message. */
  readonly originJobId: number;
  /** Push `jobid` form field: `<time>-<originJobId>-<subscriptionId>`. */
  readonly pushJobId: string;
  /** Attempts before this one (0 = first push). */
  readonly retryTimes: number;
  /** Wall-clock time of the event, ms since the epoch. */
  readonly at: number;
}

export interface RedistributedEvent {
  readonly topic: string;
  readonly originJobId: number;
  /** Subscriptions the message was copied to (those already served before a crash are skipped). */
  readonly subscriptionIds: readonly number[];
  readonly at: number;
}

export interface PushSentEvent extends PushEventBase {
  readonly url: string;
  readonly status: number;
  /** Time from request start to response end, in milliseconds. */
  readonly durationMs: number;
}

export interface PushFailedEvent extends PushEventBase {
  readonly url: string;
  /** HTTP status, `0` when no response (timeout, refused, breaker open, policy). */
  readonly status: number;
  /** Error code (`DSP_PUSH_…` / `DSP_CORE_…`) describing the failure. */
  readonly code: string;
  readonly durationMs: number;
  /** Whether another attempt follows. */
  readonly willRetry: boolean;
}

export interface PushRetryEvent extends PushEventBase {
  /** Delay until the next attempt, in milliseconds. */
  readonly delayMs: number;
}

export interface PushDeadLetterEvent extends PushEventBase {
  /** Dead-letter tube the job went to. */
  readonly tube: string;
  readonly reason: string;
}

export interface BacklogDropEvent {
  readonly topic: string;
  readonly subscriptionId: number;
  readonly originJobId: number;
  readonly action: 'log' | 'drop';
  readonly backlog: number;
  readonly at: number;
}

/** Payload type per channel name. */
export interface PushEventMap {
  'dispatcher:push:redistributed': RedistributedEvent;
  'dispatcher:push:sent': PushSentEvent;
  'dispatcher:push:failed': PushFailedEvent;
  'dispatcher:push:retry': PushRetryEvent;
  'dispatcher:push:dead-letter': PushDeadLetterEvent;
  'dispatcher:push:backlog-drop': BacklogDropEvent;
}

/** Publishes `payload` on `name` when someone listens (cheap otherwise). */
export function publishPushEvent<K extends keyof PushEventMap>(name: K, payload: PushEventMap[K]): void {
  const ch = channel(name);
  if (ch.hasSubscribers) ch.publish(payload);
}
