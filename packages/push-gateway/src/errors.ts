import { DispatcherError } from '@dispatcher/core';

/**
 * Error codes of `@dispatcher/push-gateway`. A retired code is never reused; `docs/errors.md` lists the same set
 * (a test keeps them equal).
 */
export const PushErrorCodes = {
  /** An option or argument failed validation. */
  DSP_PUSH_INVALID_ARGUMENT: 'DSP_PUSH_INVALID_ARGUMENT',
  /** The object was closed (or is closing) and takes no more calls. */
  DSP_PUSH_CLOSED: 'DSP_PUSH_CLOSED',
  /** A beanstalkd command got no reply within its timeout; the connection is reset. */
  DSP_PUSH_BEANSTALK_TIMEOUT: 'DSP_PUSH_BEANSTALK_TIMEOUT',
  /** The beanstalkd connection dropped (or was not up) while the command was pending. */
  DSP_PUSH_BEANSTALK_DISCONNECTED: 'DSP_PUSH_BEANSTALK_DISCONNECTED',
  /** beanstalkd answered `NOT_FOUND` (the job is gone or not reserved by this connection). */
  DSP_PUSH_BEANSTALK_NOT_FOUND: 'DSP_PUSH_BEANSTALK_NOT_FOUND',
  /** beanstalkd answered `JOB_TOO_BIG`: the body exceeds the server's `-z` limit. */
  DSP_PUSH_BEANSTALK_JOB_TOO_BIG: 'DSP_PUSH_BEANSTALK_JOB_TOO_BIG',
  /** beanstalkd answered `DRAINING` and takes no new jobs. */
  DSP_PUSH_BEANSTALK_DRAINING: 'DSP_PUSH_BEANSTALK_DRAINING',
  /** beanstalkd answered an error or unexpected reply (`OUT_OF_MEMORY`, `BAD_FORMAT`, `BURIED` on put…). */
  DSP_PUSH_BEANSTALK_REPLY: 'DSP_PUSH_BEANSTALK_REPLY',
  /** A job body is not a valid medispatcher msgpack message. */
  DSP_PUSH_JOB_DECODE: 'DSP_PUSH_JOB_DECODE',
  /** A job could not be encoded (body not representable in msgpack). */
  DSP_PUSH_JOB_ENCODE: 'DSP_PUSH_JOB_ENCODE',
  /** The subscription has no endpoint URL usable in this environment. */
  DSP_PUSH_NO_URL: 'DSP_PUSH_NO_URL',
  /** The push got no HTTP response (connection refused, reset, DNS). */
  DSP_PUSH_HTTP_FAILED: 'DSP_PUSH_HTTP_FAILED',
  /** The push got no complete response within the subscription's timeout. */
  DSP_PUSH_HTTP_TIMEOUT: 'DSP_PUSH_HTTP_TIMEOUT',
  /** The subscriber answered a status that does not count as delivered. */
  DSP_PUSH_HTTP_STATUS: 'DSP_PUSH_HTTP_STATUS',
  /** The subscriber answered 200 but its JSON `status` is not `1` (legacy success rule). */
  DSP_PUSH_HTTP_REJECTED: 'DSP_PUSH_HTTP_REJECTED',
  /** The destination policy refused the push URL (cloud metadata, link-local, not allowed). */
  DSP_PUSH_DESTINATION_REFUSED: 'DSP_PUSH_DESTINATION_REFUSED',
  /** The endpoint's circuit breaker is open; the push was not attempted. */
  DSP_PUSH_BREAKER_OPEN: 'DSP_PUSH_BREAKER_OPEN',
  /** No subscription with that id. */
  DSP_PUSH_SUBSCRIPTION_NOT_FOUND: 'DSP_PUSH_SUBSCRIPTION_NOT_FOUND',
  /** Reading or writing subscriptions or the failure log (MySQL, Redis) failed. */
  DSP_PUSH_STORE_FAILED: 'DSP_PUSH_STORE_FAILED',
  /** The medispatcher configuration file is missing, unreadable or invalid. */
  DSP_PUSH_CONFIG_INVALID: 'DSP_PUSH_CONFIG_INVALID',
} as const;

export type PushErrorCode = (typeof PushErrorCodes)[keyof typeof PushErrorCodes];

/** Errors raised by `@dispatcher/push-gateway`. */
export class PushError extends DispatcherError<PushErrorCode> {}
