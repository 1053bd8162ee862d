/**
 * Small amqplib helpers shared by the integration tests.
 */
import amqp, {
  type Channel,
  type ChannelModel,
  type ConsumeMessage,
  type GetMessage,
  type Options,
} from 'amqplib';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `fn` on a fresh connection to `url` and always closes the connection afterwards. */
export async function withConnection<T>(url: string, fn: (conn: ChannelModel) => Promise<T>): Promise<T> {
  const conn = await amqp.connect(url);
  try {
    return await fn(conn);
  } finally {
    await conn.close().catch(() => {});
  }
}

/** Resolves with the first `n` deliveries of a consumer. */
export function take(
  ch: Channel,
  queue: string,
  n: number,
  options: Options.Consume = {},
): Promise<ConsumeMessage[]> {
  return new Promise((resolve, reject) => {
    const got: ConsumeMessage[] = [];
    ch.consume(
      queue,
      (m) => {
        if (m === null) return;
        got.push(m);
        if (got.length === n) resolve(got);
      },
      options,
    ).catch(reject);
  });
}

/** Waits for the channel to be closed by the broker and returns the reply code amqplib reports. */
export function closedWith(ch: Channel): Promise<number | undefined> {
  return new Promise((resolve) => {
    ch.on('error', (err: { code?: number }) => resolve(err.code));
    ch.on('close', () => resolve(undefined));
  });
}

/** Every message left in `queue`, taken with basic.get (no-ack). */
export async function drain(ch: Channel, queue: string): Promise<GetMessage[]> {
  const out: GetMessage[] = [];
  for (;;) {
    const m = await ch.get(queue, { noAck: true });
    if (m === false) return out;
    out.push(m);
  }
}

/** Runs `op` on a fresh channel and returns the reply code the broker closed it with (undefined: none). */
export async function channelErrorCode(
  open: () => Promise<Channel>,
  op: (ch: Channel) => Promise<unknown>,
): Promise<number | undefined> {
  const ch = await open();
  const closed = closedWith(ch);
  try {
    await op(ch);
  } catch {
    // The operation fails when the channel closes: the code comes from the close.
  }
  const code = await Promise.race([closed, sleep(1000).then(() => undefined)]);
  await ch.close().catch(() => {});
  return code;
}

/**
 * A JSON-like view of decoded AMQP values where names are replaced by labels, timestamps by
 * 'timestamp', and objects by [key, value] pairs so key order is compared too.
 */
export function normalize(value: unknown, labels: Readonly<Record<string, string>>): unknown {
  if (typeof value === 'string') {
    for (const [name, label] of Object.entries(labels)) if (value === name) return label;
    return value;
  }
  if (Buffer.isBuffer(value)) return normalize(value.toString(), labels);
  if (Array.isArray(value)) return value.map((v) => normalize(v, labels));
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (o['!'] === 'timestamp') return 'timestamp';
    return Object.entries(o).map(([k, v]) => [k, normalize(v, labels)]);
  }
  return value;
}

export interface ChannelCloseInfo {
  readonly code: number | undefined;
  readonly text: string | undefined;
  readonly method: readonly [number | undefined, number | undefined];
}

/**
 * Runs `op` on a fresh channel and returns the channel.close the broker answered with (reply code, reply
 * text, class and method ids), or undefined when the channel stayed open.
 */
export async function channelCloseOf(
  open: () => Promise<Channel>,
  op: (ch: Channel) => Promise<unknown>,
): Promise<ChannelCloseInfo | undefined> {
  const ch = await open();
  const closed = new Promise<ChannelCloseInfo | undefined>((resolve) => {
    ch.on('error', (err: Error & { code?: number; classId?: number; methodId?: number }) =>
      resolve({
        code: err.code,
        text: /with message "(.*)"$/s.exec(err.message)?.[1],
        method: [err.classId, err.methodId],
      }),
    );
    ch.on('close', () => resolve(undefined));
  });
  let failed = false;
  try {
    await op(ch);
  } catch {
    // The operation fails when the channel closes: the details come from the close.
    failed = true;
  }
  const info = failed ? await Promise.race([closed, sleep(1000).then(() => undefined)]) : undefined;
  await ch.close().catch(() => {});
  return info;
}

/**
 * Polls `settled` until it holds or `boundMs` passes, then returns either way: a differential scenario
 * reports what it sees and the comparison with RabbitMQ (and the snapshot) decides, rather than a timeout.
 */
export async function settle(settled: () => Promise<boolean> | boolean, boundMs = 10_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await settled()) && Date.now() < deadline) await sleep(10);
}

/** Resolves once `predicate` holds (checked every 5 ms); rejects naming `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
