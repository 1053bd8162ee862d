/**
 * The permission checks of a queue or exchange declaration, in the shape the vhost's `declareQueue` /
 * `declareExchange` take (`DeclareAccess`): configure on the name; when creating with a dead-letter or
 * alternate exchange, also read on the new entity and write on that exchange (RabbitMQ's
 * check_dlx_permissions / check_ae_permissions). Every check goes through {@link ResourceAccess}.
 */
import { type FieldTable, fieldString } from '../codec/field-table.js';
import type { ResourceAccess } from './resource-access.js';

export interface DeclareChecks {
  configure(name: string): void;
  creating(name: string, args: FieldTable): void;
}

function checks(access: ResourceAccess, kind: 'queue' | 'exchange', argument: string): DeclareChecks {
  return {
    configure: (name) => access.check('configure', kind, name),
    creating: (name, args) => {
      const target = fieldString(args.get(argument));
      if (target === undefined) return;
      access.check('read', kind, name);
      access.check('write', 'exchange', target);
    },
  };
}

/** queue.declare's checks (`x-dead-letter-exchange`). */
export function queueDeclareChecks(access: ResourceAccess): DeclareChecks {
  return checks(access, 'queue', 'x-dead-letter-exchange');
}

/** exchange.declare's checks (`alternate-exchange`). */
export function exchangeDeclareChecks(access: ResourceAccess): DeclareChecks {
  return checks(access, 'exchange', 'alternate-exchange');
}
