/**
 * SASL mechanisms of connection.start-ok: PLAIN (`[authzid] NUL user NUL password`) and RabbitMQ's
 * AMQPLAIN (a field table without its length prefix, holding LOGIN and PASSWORD).
 */
import { ByteReader } from '../codec/byte-reader.js';
import { fieldString, readFieldValue } from '../codec/field-table.js';

/** Mechanisms offered in connection.start, in order of preference. */
export const SASL_MECHANISMS = ['PLAIN', 'AMQPLAIN'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

export interface SaslCredentials {
  readonly username: string;
  readonly password: string;
}

export function isSaslMechanism(name: string): name is SaslMechanism {
  return (SASL_MECHANISMS as readonly string[]).includes(name);
}

/** Parses a start-ok response; undefined when it is malformed. */
export function parseSaslResponse(mechanism: SaslMechanism, response: Buffer): SaslCredentials | undefined {
  switch (mechanism) {
    case 'PLAIN': {
      const first = response.indexOf(0);
      const second = first < 0 ? -1 : response.indexOf(0, first + 1);
      if (second < 0) return undefined;
      return {
        username: response.toString('utf8', first + 1, second),
        password: response.toString('utf8', second + 1),
      };
    }
    case 'AMQPLAIN': {
      const r = new ByteReader().reset(response);
      let username: string | undefined;
      let password: string | undefined;
      try {
        while (r.remaining > 0) {
          const name = r.shortStr();
          const value = fieldString(readFieldValue(r));
          if (name === 'LOGIN') username = value;
          else if (name === 'PASSWORD') password = value;
        }
      } catch {
        return undefined;
      }
      return username === undefined || password === undefined ? undefined : { username, password };
    }
    default: {
      const unknown: never = mechanism;
      return unknown;
    }
  }
}
