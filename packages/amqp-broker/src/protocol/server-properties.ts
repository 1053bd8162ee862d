import { hostname } from 'node:os';
import type { FieldTable, FieldValue } from '../codec/field-table.js';
import { str } from '../codec/field-table.js';

/**
 * Capabilities advertised in connection.start. Only what the broker implements is `true`; clients
 * (amqplib, the Java client…) switch features on from this table.
 */
export const SERVER_CAPABILITIES: Readonly<Record<string, boolean>> = {
  publisher_confirms: true,
  exchange_exchange_bindings: true,
  'basic.nack': true,
  consumer_cancel_notify: true,
  'connection.blocked': true,
  consumer_priorities: true,
  authentication_failure_close: true,
  per_consumer_qos: true,
  direct_reply_to: true,
};

export interface ServerPropertiesOptions {
  readonly product: string;
  readonly version: string;
  readonly clusterName?: string;
}

export function serverProperties(options: ServerPropertiesOptions): FieldTable {
  const capabilities: FieldTable = new Map(
    Object.entries(SERVER_CAPABILITIES).map(([k, v]): [string, FieldValue] => [
      k,
      { type: 'bool', value: v },
    ]),
  );
  return new Map<string, FieldValue>([
    ['capabilities', { type: 'table', value: capabilities }],
    ['cluster_name', str(options.clusterName ?? `dispatcher@${hostname()}`)],
    ['product', str(options.product)],
    ['version', str(options.version)],
    ['platform', str(`Node.js ${process.version}`)],
    // Who we really are, whatever `product` says (it defaults to RabbitMQ's name for compatibility).
    ['information', str(`Dispatcher amqp-broker ${options.version} (RabbitMQ-compatible AMQP 0-9-1)`)],
  ]);
}
