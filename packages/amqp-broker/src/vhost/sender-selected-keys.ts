/**
 * Sender-selected distribution: the `CC` and `BCC` headers (arrays of strings) name extra routing keys.
 * The message is routed with its routing key plus those keys; `BCC` is removed before the message is
 * stored, so no consumer sees it (RabbitMQ's behaviour). Properties are decoded only when the raw bytes
 * contain "CC" at all.
 */
import { ByteWriter } from '../codec/byte-writer.js';
import { fieldString } from '../codec/field-table.js';
import { encodeBasicProperties } from '../codec/generated/amqp-spec.js';
import { Message, PropertyFlag } from '../queue/message.js';

const CC_BYTES = Buffer.from('CC');

/** The message with its CC/BCC keys in `extraRoutingKeys` (and BCC stripped: then a new Message). */
export function withSenderSelectedKeys(message: Message): Message {
  if (!message.has(PropertyFlag.headers) || !message.rawProperties.includes(CC_BYTES)) return message;
  const headers = message.properties.headers;
  if (headers === undefined) return message;
  const cc = headers.get('CC');
  const bcc = headers.get('BCC');
  if (cc === undefined && bcc === undefined) return message;
  const keys: string[] = [];
  for (const v of [cc, bcc]) {
    if (v?.type !== 'array') continue;
    for (const k of v.value) {
      const s = fieldString(k);
      if (s !== undefined && k.type !== 'bytes') keys.push(s);
    }
  }
  let out = message;
  if (bcc !== undefined) {
    const stripped = new Map(headers);
    stripped.delete('BCC');
    const w = new ByteWriter(message.rawProperties.length, message.strict);
    encodeBasicProperties(w, { ...message.properties, headers: stripped });
    out = new Message(message.exchange, message.routingKey, w.toBuffer(), message.body, message.strict);
  }
  out.extraRoutingKeys = keys.length > 0 ? keys : undefined;
  return out;
}
