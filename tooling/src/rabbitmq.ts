import { tcpExchange } from './tcp-exchange.js';

/** Default broker used by the integration tests (the RabbitMQ of the development machine / CI service). */
export const DEFAULT_RABBITMQ_URL = 'amqp://guest:guest@127.0.0.1:5672';

/** Options for {@link assertRabbitMQReachable}. */
export interface AssertRabbitMQReachableOptions {
  /** Deadline for connect + first frame (default 5 s). A closed port fails at once regardless. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

// AMQP 0-9-1 protocol header: "AMQP", 0, then protocol id 0 and version 9.1.
const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x00, 0x00, 0x09, 0x01]);
// Frame header (type 1 byte, channel 2, size 4) followed by class-id and method-id (2 bytes each).
const START_FRAME_PREFIX_BYTES = 11;

/** The broker URL for tests: `RABBITMQ_URL` when set, else {@link DEFAULT_RABBITMQ_URL}. */
export function rabbitmqUrl(): string {
  return process.env.RABBITMQ_URL ?? DEFAULT_RABBITMQ_URL;
}

/**
 * Checks that an AMQP 0-9-1 broker listens at `url` by sending the protocol header and waiting for the
 * broker's `connection.start` (a method frame on channel 0, class 10, method 10). No login is attempted.
 *
 * @throws An Error naming the (password-masked) URL and `RABBITMQ_URL` when nothing answers, or when
 *   what answers is not an AMQP 0-9-1 broker.
 */
export async function assertRabbitMQReachable(
  url: string = rabbitmqUrl(),
  options: AssertRabbitMQReachableOptions = {},
): Promise<void> {
  const parsed = new URL(url);
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
    throw new Error(`RABBITMQ_URL must be an amqp:// or amqps:// URL, got ${maskPassword(parsed)}`);
  }
  const tls = parsed.protocol === 'amqps:';
  const host = parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = parsed.port ? Number(parsed.port) : tls ? 5671 : 5672;

  let reply: Buffer;
  try {
    reply = await tcpExchange({
      host,
      port,
      tls,
      send: PROTOCOL_HEADER,
      // A broker that dislikes our version answers with its own 8-byte header and closes: accept that too.
      until: (received) =>
        received.length >= START_FRAME_PREFIX_BYTES || (received.length >= 8 && isProtocolHeader(received)),
      timeoutMs: options.timeoutMs ?? 5_000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    throw unreachable(parsed, (error as Error).message);
  }
  if (isProtocolHeader(reply)) {
    throw unreachable(
      parsed,
      `the server does not speak AMQP 0-9-1 (it answered ${reply.subarray(0, 8).toString('hex')})`,
    );
  }
  const isConnectionStart =
    reply[0] === 1 &&
    reply.readUInt16BE(1) === 0 &&
    reply.readUInt16BE(7) === 10 &&
    reply.readUInt16BE(9) === 10;
  if (!isConnectionStart) {
    throw unreachable(
      parsed,
      `the server's first frame is not connection.start (${reply.subarray(0, 11).toString('hex')})`,
    );
  }
}

function isProtocolHeader(bytes: Buffer): boolean {
  return bytes.subarray(0, 4).toString('latin1') === 'AMQP';
}

function unreachable(url: URL, reason: string): Error {
  return new Error(
    `RabbitMQ is not reachable at ${maskPassword(url)}: ${reason}. Start RabbitMQ there or set RABBITMQ_URL ` +
      'to a reachable broker (DISPATCHER_SKIP_RABBITMQ=1 lets the test run continue without it).',
  );
}

/** Passwords must not end up in CI logs. */
function maskPassword(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = '***';
  return copy.href.replace(/\/$/, '');
}
