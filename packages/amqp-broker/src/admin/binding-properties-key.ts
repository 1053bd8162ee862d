/**
 * RabbitMQ's `properties_key` of a binding: the routing key, form-encoded (space as `+`), and, when the
 * binding has arguments, `~` and a short hash of them. Clients treat it as opaque: they read it from a
 * listing (or from the `Location` of a created binding) and send it back to delete that binding.
 */
import { createHash } from 'node:crypto';
import type { FieldTable } from '../codec/field-table.js';
import { fieldTableToJson } from './field-json.js';

function quote(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+').replace(/~/g, '%7E');
}

/** Sorted keys, so that equal tables hash equally whatever their order. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v as object)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

export function bindingPropertiesKey(routingKey: string, args: FieldTable): string {
  if (args.size === 0) return routingKey === '' ? '~' : quote(routingKey);
  const hash = createHash('sha256')
    .update(JSON.stringify(canonical(fieldTableToJson(args))))
    .digest('base64url')
    .slice(0, 6);
  return `${quote(routingKey)}~${hash}`;
}
