/**
 * Starts the broker on the configured address. `::` is a dual-stack socket (IPv4 clients arrive as
 * ::ffff:a.b.c.d); on a host without IPv6 it falls back to 0.0.0.0 and says so.
 */
import { BrokerServer, type BrokerServerOptions } from '@dispatcher/amqp-broker';
import type { Logger } from 'pino';

const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

export async function startBroker(
  options: Omit<BrokerServerOptions, 'logger' | 'host'>,
  host: string,
  logger: Logger,
): Promise<{ broker: BrokerServer; host: string }> {
  const broker = new BrokerServer({ ...options, host, logger });
  try {
    await broker.start();
    return { broker, host };
  } catch (err) {
    const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (host !== '::' || code === undefined || !NO_IPV6.has(code)) throw err;
    logger.warn({ code }, 'IPv6 is not available on this host: listening on IPv4 only (0.0.0.0)');
    const v4 = new BrokerServer({ ...options, host: '0.0.0.0', logger });
    await v4.start();
    return { broker: v4, host: '0.0.0.0' };
  }
}
