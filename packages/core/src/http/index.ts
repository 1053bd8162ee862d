export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
  DEFAULT_CIRCUIT_BREAKER_OPTIONS,
} from './circuit-breaker.js';
export { ADDRESS_CLASSES, type AddressClass, classifyAddress } from './classify-address.js';
export {
  CLOUD_METADATA_ADDRESSES,
  CLOUD_METADATA_HOST_NAMES,
  isCloudMetadataAddress,
} from './cloud-metadata.js';
export {
  createDestinationPolicy,
  DEFAULT_DESTINATION_POLICY_OPTIONS,
  DESTINATION_POLICY_PRESETS,
  type DestinationPolicy,
  type DestinationPolicyClassOptions,
  type DestinationPolicyOptions,
  type DestinationPolicyPreset,
  type PolicyCheck,
} from './destination-policy.js';
export {
  type AllowListOptions,
  DEFAULT_ALLOW_LIST_OPTIONS,
  parseAllowedDestinations,
} from './parse-allowed-destinations.js';
export {
  createSafeConnector,
  DEFAULT_SAFE_CONNECTOR_OPTIONS,
  type SafeConnectorOptions,
} from './safe-connector.js';
export { type LookupFunction, safeLookup } from './safe-lookup.js';
export { TokenBucket, type TokenBucketOptions } from './token-bucket.js';
export {
  DEFAULT_VERIFY_WEBHOOK_OPTIONS,
  signWebhook,
  type VerifyWebhookOptions,
  type VerifyWebhookResult,
  verifyWebhook,
  type WebhookSignatureHeaders,
  type WebhookSigner,
  webhookSigner,
} from './webhook-signature.js';
