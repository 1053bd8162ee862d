import { BrokerError } from '../errors.js';
import { DirectExchange } from './direct-exchange.js';
import type { Exchange, ExchangeOptions, ExchangeType } from './exchange.js';
import { FanoutExchange } from './fanout-exchange.js';
import { HeadersExchange } from './headers-exchange.js';
import { TopicExchange } from './topic-exchange.js';

/** The exchange types this broker implements. */
export const EXCHANGE_TYPES: readonly ExchangeType[] = ['direct', 'fanout', 'topic', 'headers'];

export function isExchangeType(type: string): type is ExchangeType {
  return (EXCHANGE_TYPES as readonly string[]).includes(type);
}

export function createExchange(type: ExchangeType, options: ExchangeOptions): Exchange {
  switch (type) {
    case 'direct':
      return new DirectExchange(options);
    case 'fanout':
      return new FanoutExchange(options);
    case 'topic':
      return new TopicExchange(options);
    case 'headers':
      return new HeadersExchange(options);
    default: {
      const unknown: never = type;
      throw new BrokerError('DSP_BROKER_INVALID_ARGUMENT', `unknown exchange type ${String(unknown)}`);
    }
  }
}
