import type { Message } from '../queue/message.js';
import type { Queue } from '../queue/queue.js';
import { BaseExchange, type Binding, QueueCounts } from './exchange.js';

/** Routes to the queues bound with exactly the message's routing key. */
export class DirectExchange extends BaseExchange {
  readonly type = 'direct' as const;
  readonly #byKey = new Map<string, QueueCounts>();

  route(_message: Message, routingKey: string, out: Set<Queue>): void {
    this.#byKey.get(routingKey)?.addTo(out);
  }

  protected addToIndex(binding: Binding): void {
    let set = this.#byKey.get(binding.routingKey);
    if (set === undefined) {
      set = new QueueCounts();
      this.#byKey.set(binding.routingKey, set);
    }
    set.add(binding.queue);
  }

  protected removeFromIndex(binding: Binding): void {
    if (this.#byKey.get(binding.routingKey)?.remove(binding.queue)) this.#byKey.delete(binding.routingKey);
  }
}
