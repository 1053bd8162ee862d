/** Whether a socket's remote address is a loopback one (RabbitMQ's `rabbit_net:is_loopback`). */
import { isIP } from 'node:net';

export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.toLowerCase();
  if (a === '::1') return true;
  // IPv4, plain or IPv4-mapped IPv6 (`::ffff:127.0.0.1` on dual-stack listeners): all of 127.0.0.0/8.
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return isIP(v4) === 4 && v4.startsWith('127.');
}
