import type { Subscription, SubscriptionParamsPatch } from './subscription.js';

/** A change seen by a {@link SubscriptionSource}: the full new state of one subscription, or its removal. */
export type SubscriptionChange =
  | { readonly kind: 'upsert'; readonly subscription: Subscription }
  | { readonly kind: 'remove'; readonly id: number; readonly topic: string };

/**
 * Where subscriptions come from (MySQL schema of the original, or Redis only). Implementations notice changes made
 * by other instances or written straight into the store within about a second.
 */
export interface SubscriptionSource {
  /** All active subscriptions. */
  list(options?: { signal?: AbortSignal }): Promise<Subscription[]>;
  /** Active subscriptions of one topic. */
  listByTopic(topic: string, options?: { signal?: AbortSignal }): Promise<Subscription[]>;
  /** One subscription (active or not), `undefined` when unknown. */
  get(id: number, options?: { signal?: AbortSignal }): Promise<Subscription | undefined>;
  /** Persists a parameter change; every instance sees it through `watch`. */
  setParams(
    id: number,
    patch: SubscriptionParamsPatch,
    options?: { signal?: AbortSignal },
  ): Promise<Subscription>;
  /** Calls `listener` for every change until the returned function is called. */
  watch(listener: (change: SubscriptionChange) => void): () => void;
  /** Stops polling / subscriptions; drains in-flight reads. */
  close(): Promise<void>;
}

/** Input of {@link WritableSubscriptionSource.create}; params not given take the configured defaults. */
export interface CreateSubscriptionInput {
  /** Id to use; allocated by the store when absent. */
  readonly id?: number | undefined;
  readonly topic: string;
  readonly subscriberId: number;
  readonly receptionChannel: string;
  readonly params?: SubscriptionParamsPatch | undefined;
}

/** A source that also owns the subscriptions (Redis-only mode; in MySQL mode the control panel owns them). */
export interface WritableSubscriptionSource extends SubscriptionSource {
  create(input: CreateSubscriptionInput, options?: { signal?: AbortSignal }): Promise<Subscription>;
  /** Removes a subscription; resolves `false` when it did not exist. */
  remove(id: number, options?: { signal?: AbortSignal }): Promise<boolean>;
}
