import type { Message } from '../queue/message.js';
import type { Queue } from '../queue/queue.js';
import { BaseExchange, type Binding, QueueCounts } from './exchange.js';

/** Routes to every bound queue, ignoring the routing key. */
export class FanoutExchange extends BaseExchange {
  readonly type = 'fanout' as const;
  readonly #queues = new QueueCounts();

  route(_message: Message, _routingKey: string, out: Set<Queue>): void {
    this.#queues.addTo(out);
  }

  protected addToIndex(binding: Binding): void {
    this.#queues.add(binding.queue);
  }

  protected removeFromIndex(binding: Binding): void {
    this.#queues.remove(binding.queue);
  }
}
