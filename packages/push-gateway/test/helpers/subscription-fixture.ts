import type {
  Subscription,
  SubscriptionAlertParams,
  SubscriptionParams,
} from '../../src/subscriptions/subscription.js';

/** A complete Subscription for tests, with the original's defaults and the given overrides. */
export function subscriptionFixture(
  id: number,
  topic: string,
  overrides: { params?: Partial<SubscriptionParams>; alerts?: Partial<SubscriptionAlertParams> } = {},
): Subscription {
  const alerts: SubscriptionAlertParams = {
    enabled: true,
    emails: [],
    phoneNumbers: [],
    receivers: [],
    alarmIntervalSec: 180,
    errorWindowSec: 180,
    messageFailureThreshold: 7,
    subscriptionFailureThreshold: 120,
    backlogThreshold: 5000,
    ...overrides.alerts,
  };
  const params: SubscriptionParams = {
    concurrency: 5,
    retryConcurrency: 1,
    intervalMs: 0,
    timeoutMs: 5000,
    urls: [`http://worker.local/${id}`],
    receiveBench: false,
    backlog: { threshold: 0, action: 'keep' },
    successMode: 'legacy-status',
    retry: { kind: 'legacy', maxRetries: 10, coefficientSec: 10 },
    retryableStatuses: 'all',
    fleetConcurrency: 0,
    ...overrides.params,
    alerts,
  };
  return { id, topic, subscriberId: 100 + id, receptionChannel: params.urls.join('\n'), params };
}
