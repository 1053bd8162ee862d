/**
 * Validation of queue declare arguments (`x-…`). Invalid values close the channel with 406, as RabbitMQ
 * does; arguments the broker does not know are accepted and ignored.
 */
import { type FieldTable, fieldInteger, fieldString } from '../codec/field-table.js';
import { PRECONDITION_FAILED } from '../codec/generated/amqp-spec.js';
import { channelError } from '../errors.js';

type Rule = (value: NonNullable<ReturnType<FieldTable['get']>>) => string | undefined;

const nonNegativeInt: Rule = (v) => {
  const n = fieldInteger(v);
  if (n === undefined) return `expected an integer, got ${v.type}`;
  return n < 0 ? `negative value ${n}` : undefined;
};
const positiveInt: Rule = (v) => {
  const n = fieldInteger(v);
  if (n === undefined) return `expected an integer, got ${v.type}`;
  return n <= 0 ? `value ${n} must be positive` : undefined;
};
const string: Rule = (v) => (fieldString(v) === undefined ? `expected a string, got ${v.type}` : undefined);

const RULES: Readonly<Record<string, Rule>> = {
  'x-message-ttl': nonNegativeInt,
  'x-expires': positiveInt,
  'x-max-length': nonNegativeInt,
  'x-max-length-bytes': nonNegativeInt,
  'x-dead-letter-exchange': string,
  'x-dead-letter-routing-key': string,
  'x-max-priority': (v) => {
    const n = fieldInteger(v);
    if (n === undefined) return `expected an integer, got ${v.type}`;
    return n < 0 || n > 255 ? `value ${n} out of range 0..255` : undefined;
  },
  'x-overflow': (v) => {
    const s = fieldString(v);
    return s === 'drop-head' || s === 'reject-publish' || s === 'reject-publish-dlx'
      ? undefined
      : `expected drop-head, reject-publish or reject-publish-dlx`;
  },
  'x-queue-type': (v) => {
    const s = fieldString(v);
    return s === 'classic' ? undefined : `only classic queues are supported, got '${s ?? v.type}'`;
  },
  'x-single-active-consumer': (v) => (v.type === 'bool' ? undefined : `expected a boolean, got ${v.type}`),
};

/**
 * The queue arguments RabbitMQ 3.10 knows (its `declare_args`): the only ones a redeclare compares, so a
 * redeclare differing in any other argument is accepted. Some belong to quorum queues and streams: RabbitMQ
 * refuses them when declaring a classic queue, we accept and ignore them, and compare them on redeclare.
 */
export const QUEUE_EQUIVALENCE_ARGUMENTS: readonly string[] = [
  'x-expires',
  'x-message-ttl',
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-max-length',
  'x-max-length-bytes',
  'x-max-in-memory-length',
  'x-max-in-memory-bytes',
  'x-max-priority',
  'x-overflow',
  'x-queue-mode',
  'x-queue-master-locator',
  'x-single-active-consumer',
  'x-queue-type',
  'x-quorum-initial-group-size',
  'x-delivery-limit',
  'x-max-age',
  'x-stream-max-segment-size-bytes',
  'x-initial-cluster-size',
  'x-queue-leader-locator',
];

export function validateQueueArguments(queue: string, vhost: string, args: FieldTable): void {
  for (const [key, value] of args) {
    const rule = RULES[key];
    const problem = rule?.(value);
    if (problem !== undefined) {
      throw channelError(
        PRECONDITION_FAILED,
        `invalid arg '${key}' for queue '${queue}' in vhost '${vhost}': ${problem}`,
      );
    }
  }
  if (args.has('x-dead-letter-routing-key') && !args.has('x-dead-letter-exchange')) {
    throw channelError(
      PRECONDITION_FAILED,
      `invalid arg 'x-dead-letter-routing-key' for queue '${queue}' in vhost '${vhost}': x-dead-letter-exchange is not set`,
    );
  }
}
