/**
 * A decoded medispatcher job: the msgpack map producers (PHP, camelCase or PascalCase keys) and Go dispatchers
 * (PascalCase, `Owl_context`) put into the main tube and the channel tubes. Field meanings follow the original's
 * `MessageStuct`.
 */
export interface JobMessage {
  /** Topic (message class key) the message was published to, e.g. `order.created`. */
  readonly msgKey: string;
  /** Payload; pushed to subscribers as the JSON form field `message`. */
  readonly body: unknown;
  /** Free-form sender name the producer set. */
  readonly sender: string;
  /** Unix time in seconds (fractional) when the message was received from the publisher. */
  readonly time: number;
  /** Job id the message had in the main tube; part of the stable push `jobid`. `0` before redistribution. */
  readonly originJobId: number;
  /** Pushes already attempted for this channel copy (0 on the first push). */
  readonly retryTimes: number;
  /** Id of the `broadcast_failure_log` row of the last failure (MySQL mode), `0` when none. */
  readonly logId: number;
  /** Delay in seconds the producer asked for. */
  readonly delay: number;
  /** beanstalkd priority the producer asked for (lower is more urgent). */
  readonly priority: number;
  /** Opaque context string, forwarded as the `X-Jumei-Context` header. */
  readonly context: string;
  /** Opaque OWL tracing context, forwarded as the `X-Jumei-Owl-Context` header. */
  readonly owlContext: string;
}

/** Defaults for fields absent from a decoded job (the original's Go zero values). */
export const JOB_MESSAGE_DEFAULTS: Omit<JobMessage, 'msgKey' | 'body'> = {
  sender: '',
  time: 0,
  originJobId: 0,
  retryTimes: 0,
  logId: 0,
  delay: 0,
  priority: 0,
  context: '',
  owlContext: '',
};
