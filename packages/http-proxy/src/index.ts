// Moved to @dispatcher/core/http; re-exported so existing imports from the proxy keep working.
export { classifyAddress, parseAllowedDestinations, signWebhook, verifyWebhook } from '@dispatcher/core/http';
export type { DeliveryEvent } from './delivery/delivery-engine.js';
export type { DestinationRule } from './delivery/delivery-options.js';
export { ProxyError, type ProxyErrorCode, ProxyErrorCodes } from './errors.js';
export { HttpProxy } from './http-proxy.js';
export { proxyMessageId, seqOfMessageId } from './proxy-message-id.js';
export {
  HTTP_PROXY_DEFAULTS,
  HTTP_PROXY_LIMITS,
  type HttpProxyOptions,
  type IntRange,
  MAX_BODY_BYTES_LIMIT,
  resolveProxyOptions,
} from './proxy-options.js';
