import { randomBytes } from 'node:crypto';
import { type Channel, type ChannelModel, connect, type GetMessage } from 'amqplib';
import {
  type AnyTaskConfig,
  Server,
  type ServerOptions,
  type TaskDefinition,
  type WorkerOptions,
} from '../../src/index.js';

/** A unique name per test so parallel runs on the shared broker never meet. */
export function uniqueName(prefix: string): string {
  return `dsp-test.${prefix}.${randomBytes(4).toString('hex')}`;
}

/**
 * One test's world: a raw amqplib connection for inspecting queues, the servers it starts, and the names it
 * must delete afterwards.
 */
export class TestBed {
  readonly url: string;
  readonly exchange = uniqueName('ex');
  readonly #queues = new Set<string>();
  /** Queues deleted at cleanup as they are (no dead-letter twin), e.g. long-lived delay buckets. */
  readonly #extraQueues = new Set<string>();
  readonly #servers: Server[] = [];
  #raw: ChannelModel | undefined;
  #channel: Channel | undefined;

  constructor(url: string) {
    this.url = url;
  }

  /** A unique queue name, remembered (with its dead-letter and delay queues) for cleanup. */
  queue(prefix = 'q'): string {
    const name = uniqueName(prefix);
    this.#queues.add(name);
    return name;
  }

  /** Deletes `name` at cleanup (for queues the library declares, such as delay buckets with a long x-expires). */
  track(name: string): string {
    this.#extraQueues.add(name);
    return name;
  }

  /** Ready messages in `queue`, or `undefined` when it does not exist (a fresh channel: a 404 closes it). */
  async messageCount(queue: string): Promise<number | undefined> {
    await this.channel();
    const ch = await this.#raw?.createChannel();
    if (!ch) return undefined;
    ch.on('error', () => undefined);
    try {
      return (await ch.checkQueue(queue)).messageCount;
    } catch {
      return undefined;
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  server<const D extends readonly TaskDefinition[] = readonly TaskDefinition[]>(
    options: Partial<ServerOptions<D>> = {},
  ): Server<D> {
    const server = new Server<D>({
      url: this.url,
      exchange: this.exchange,
      defaultRoutingKey: 'default',
      closeTimeoutMs: 5_000,
      ...options,
    } as ServerOptions<D>);
    this.#servers.push(server as unknown as Server);
    return server;
  }

  /** A started server with one started worker on a fresh queue bound with `routingKey`. */
  async serverWithWorker(
    tasks: Readonly<Record<string, AnyTaskConfig>>,
    worker: Partial<WorkerOptions> = {},
    options: Partial<ServerOptions> = {},
  ) {
    const queue = worker.queue ?? this.queue();
    const server = this.server(options);
    await server.start();
    const w = server.newWorker({ name: uniqueName('worker'), queue, bindingKeys: [queue], ...worker }, tasks);
    w.start();
    await until(() => w.consuming);
    return { server, worker: w, queue };
  }

  async channel(): Promise<Channel> {
    if (this.#channel) return this.#channel;
    this.#raw = await connect(this.url);
    this.#raw.on('error', () => undefined);
    this.#channel = await this.#raw.createChannel();
    this.#channel.on('error', () => undefined);
    return this.#channel;
  }

  /** Takes every message currently in `queue` (acked). */
  async drain(queue: string): Promise<GetMessage[]> {
    const channel = await this.channel();
    const messages: GetMessage[] = [];
    for (;;) {
      const msg = await channel.get(queue, { noAck: true });
      if (!msg) return messages;
      messages.push(msg);
    }
  }

  /** Waits until `queue` holds `count` messages, then takes them. */
  async waitForMessages(queue: string, count: number, timeoutMs = 15_000): Promise<GetMessage[]> {
    const got: GetMessage[] = [];
    const deadline = Date.now() + timeoutMs;
    while (got.length < count) {
      got.push(...(await this.drain(queue)));
      if (got.length >= count) break;
      if (Date.now() > deadline) throw new Error(`expected ${count} messages in ${queue}, got ${got.length}`);
      await sleep(50);
    }
    return got;
  }

  async cleanup(): Promise<void> {
    await Promise.allSettled(this.#servers.map((server) => server.close({ timeoutMs: 2_000 })));
    const channel = await this.channel().catch(() => undefined);
    if (channel && this.#raw) {
      // A fresh channel per deletion: a 404 on one must not stop the rest.
      for (const queue of this.#queues) {
        for (const name of [queue, `${queue}.dead`]) await this.#delete(name);
      }
      for (const name of this.#extraQueues) await this.#delete(name);
      // Delay bucket queues are not listed here: they delete themselves (x-expires) within about a minute.
      const ch = await this.#raw.createChannel().catch(() => undefined);
      ch?.on('error', () => undefined);
      await ch?.deleteExchange(this.exchange).catch(() => undefined);
      await ch?.close().catch(() => undefined);
    }
    await this.#raw?.close().catch(() => undefined);
  }

  async #delete(name: string): Promise<void> {
    if (!this.#raw) return;
    const ch = await this.#raw.createChannel().catch(() => undefined);
    if (!ch) return;
    ch.on('error', () => undefined);
    await ch.deleteQueue(name).catch(() => undefined);
    await ch.close().catch(() => undefined);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until true or the timeout passes (then throws). */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
