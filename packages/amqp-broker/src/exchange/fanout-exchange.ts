import type { Message } from '../queue/message.js';

import { BaseExchange, type Binding, type Destination, DestinationCounts } from './exchange.js';

/** Routes to every bound queue, ignoring the routing key. */
export class FanoutExchange extends BaseExchange {
  readonly type = 'fanout' as const;
  readonly #queues = new DestinationCounts();

  route(_message: Message, _routingKey: string, out: Set<Destination>): void {
    this.#queues.addTo(out);
  }

  protected addToIndex(binding: Binding): void {
    this.#queues.add(binding.destination);
  }

  protected removeFromIndex(binding: Binding): void {
    this.#queues.remove(binding.destination);
  }
}
