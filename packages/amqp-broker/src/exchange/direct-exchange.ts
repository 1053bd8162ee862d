import type { Message } from '../queue/message.js';

import { BaseExchange, type Binding, type Destination, DestinationCounts } from './exchange.js';

/** Routes to the queues bound with exactly the message's routing key. */
export class DirectExchange extends BaseExchange {
  readonly type = 'direct' as const;
  readonly #byKey = new Map<string, DestinationCounts>();

  route(_message: Message, routingKey: string, out: Set<Destination>): void {
    this.#byKey.get(routingKey)?.addTo(out);
  }

  protected addToIndex(binding: Binding): void {
    let set = this.#byKey.get(binding.routingKey);
    if (set === undefined) {
      set = new DestinationCounts();
      this.#byKey.set(binding.routingKey, set);
    }
    set.add(binding.destination);
  }

  protected removeFromIndex(binding: Binding): void {
    if (this.#byKey.get(binding.routingKey)?.remove(binding.destination))
      this.#byKey.delete(binding.routingKey);
  }
}
