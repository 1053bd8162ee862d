import type { FieldValue } from './field-table.js';

/**
 * The name RabbitMQ gives a field value's type in its error texts (`… of type 'signedint'`, `expected
 * integer, got longstr`). Short strings only occur with the spec's type codes; RabbitMQ has none.
 */
export function rabbitTypeName(v: FieldValue): string {
  switch (v.type) {
    case 'int8':
      return 'byte';
    case 'uint8':
      return 'unsignedbyte';
    case 'int16':
      return 'short';
    case 'uint16':
      return 'unsignedshort';
    case 'int32':
      return 'signedint';
    case 'uint32':
      return 'unsignedint';
    case 'int64':
    case 'uint64':
      return 'long';
    case 'shortstr':
      return 'longstr';
    case 'bytes':
      return 'binary';
    default:
      return v.type;
  }
}
