/**
 * IP address parsing and classification: which kind of network an address belongs to. No policy here; the
 * destination policy decides what each class may reach.
 */
import net from 'node:net';
import { CoreError } from '../errors.js';

/** The kind of network an IP address belongs to. */
export type AddressClass =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unspecified'
  | 'multicast'
  | 'reserved'
  | 'public';

/** Every {@link AddressClass}, in a stable order. */
export const ADDRESS_CLASSES: readonly AddressClass[] = Object.freeze([
  'loopback',
  'private',
  'link-local',
  'unspecified',
  'multicast',
  'reserved',
  'public',
]);

/** An IP address as a number, for prefix matching. */
export interface ParsedIp {
  family: 4 | 6;
  value: bigint;
}

/** Parses an IPv4 or IPv6 literal (brackets and an IPv6 zone are tolerated); IPv4-mapped IPv6 is unmapped. */
export function parseIp(text: string): ParsedIp | undefined {
  const ip = parseIpRaw(text);
  return ip === undefined ? undefined : unmap(ip);
}

/** Like {@link parseIp} but keeps IPv4-mapped IPv6 as IPv6 (CIDR parsing needs the prefix as written). */
export function parseIpRaw(text: string): ParsedIp | undefined {
  let ip = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = ip.indexOf('%');
  // A zone only scopes a link-local address to an interface; it does not change which network it is.
  if (zone !== -1 && ip.includes(':')) {
    if (zone === ip.length - 1) return undefined;
    ip = ip.slice(0, zone);
  }
  if (net.isIPv4(ip)) return { family: 4, value: ipv4ToBigint(ip) };
  if (!net.isIPv6(ip)) return undefined;
  return { family: 6, value: ipv6ToBigint(ip) };
}

function ipv4ToBigint(ip: string): bigint {
  return ip.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

// Only called on text net.isIPv6 accepted, so the shape is known to be valid.
function ipv6ToBigint(ip: string): bigint {
  let text = ip;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4ToBigint(tail);
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...Array<string>(rest === undefined ? 0 : missing).fill('0'), ...restGroups];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
}

/** `::ffff:a.b.c.d` reaches the same host as `a.b.c.d`, so it is matched and classified as IPv4. */
export function unmap(ip: ParsedIp): ParsedIp {
  if (ip.family === 6 && ip.value >> 32n === 0xffffn) return { family: 4, value: ip.value & 0xffffffffn };
  return ip;
}

/** Whether `value` (an address of `bits` bits) lies in `base/prefix`. */
export function inPrefix(value: bigint, bits: number, base: bigint, prefix: number): boolean {
  const shift = BigInt(bits - prefix);
  return value >> shift === base >> shift;
}

function v4(text: string): bigint {
  return ipv4ToBigint(text);
}

function v6(text: string): bigint {
  return ipv6ToBigint(text);
}

// First match wins, so narrower ranges come before the ranges that contain them.
const IPV4_RANGES: ReadonlyArray<readonly [bigint, number, AddressClass]> = [
  [v4('0.0.0.0'), 8, 'unspecified'],
  [v4('10.0.0.0'), 8, 'private'],
  [v4('100.64.0.0'), 10, 'private'], // carrier-grade NAT: not reachable from the internet
  [v4('127.0.0.0'), 8, 'loopback'],
  [v4('169.254.0.0'), 16, 'link-local'], // includes the cloud metadata service 169.254.169.254
  [v4('172.16.0.0'), 12, 'private'],
  [v4('192.0.0.0'), 24, 'reserved'], // IETF protocol assignments
  [v4('192.0.2.0'), 24, 'reserved'], // TEST-NET-1
  [v4('192.88.99.0'), 24, 'reserved'], // deprecated 6to4 relay anycast
  [v4('192.168.0.0'), 16, 'private'],
  [v4('198.18.0.0'), 15, 'reserved'], // benchmarking
  [v4('198.51.100.0'), 24, 'reserved'], // TEST-NET-2
  [v4('203.0.113.0'), 24, 'reserved'], // TEST-NET-3
  [v4('224.0.0.0'), 4, 'multicast'],
  [v4('240.0.0.0'), 4, 'reserved'], // includes the broadcast address 255.255.255.255
];

const IPV6_RANGES: ReadonlyArray<readonly [bigint, number, AddressClass]> = [
  [v6('::'), 128, 'unspecified'],
  [v6('::1'), 128, 'loopback'],
  [v6('::'), 96, 'reserved'], // deprecated IPv4-compatible addresses
  [v6('64:ff9b:1::'), 48, 'private'], // local-use NAT64
  [v6('100::'), 64, 'reserved'], // discard-only
  [v6('2001:db8::'), 32, 'reserved'], // documentation
  [v6('2001::'), 23, 'reserved'], // IETF protocol assignments (Teredo, benchmarking, ORCHID)
  [v6('3fff::'), 20, 'reserved'], // documentation (RFC 9637)
  [v6('5f00::'), 16, 'reserved'], // SRv6 SIDs
  [v6('fc00::'), 7, 'private'], // unique local addresses
  [v6('fe80::'), 10, 'link-local'],
  [v6('fec0::'), 10, 'private'], // deprecated site-local
  [v6('ff00::'), 8, 'multicast'],
];

const NAT64_WELL_KNOWN = v6('64:ff9b::');
const SIX_TO_FOUR = v6('2002::');
const GLOBAL_UNICAST = v6('2000::');

/**
 * The IPv4 address a translation prefix (NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) embeds, which the
 * translator will reach on our behalf; the address itself otherwise.
 */
export function embeddedIpv4(ip: ParsedIp): ParsedIp {
  if (ip.family === 4) return ip;
  if (inPrefix(ip.value, 128, NAT64_WELL_KNOWN, 96)) return { family: 4, value: ip.value & 0xffffffffn };
  if (inPrefix(ip.value, 128, SIX_TO_FOUR, 16)) {
    return { family: 4, value: (ip.value >> 80n) & 0xffffffffn };
  }
  return ip;
}

/** Classifies a parsed address (see {@link classifyAddress}). */
export function classifyParsed(parsed: ParsedIp): AddressClass {
  const ip = embeddedIpv4(parsed);
  if (ip.family === 4) {
    for (const [base, prefix, kind] of IPV4_RANGES) if (inPrefix(ip.value, 32, base, prefix)) return kind;
    return 'public';
  }
  for (const [base, prefix, kind] of IPV6_RANGES) if (inPrefix(ip.value, 128, base, prefix)) return kind;
  // Outside 2000::/3 nothing is allocated for global unicast.
  return inPrefix(ip.value, 128, GLOBAL_UNICAST, 3) ? 'public' : 'reserved';
}

/**
 * Classifies an IPv4 or IPv6 address. IPv4-mapped IPv6 (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) and
 * 6to4 (`2002::/16`) addresses are classified by the IPv4 address they embed.
 *
 * @param ip - an IP literal; IPv6 may be bracketed and carry a zone (`fe80::1%eth0`)
 * @throws CoreError `DSP_CORE_INVALID_ARGUMENT` when `ip` is not an IP literal
 */
export function classifyAddress(ip: string): AddressClass {
  const parsed = parseIp(ip);
  if (parsed === undefined) {
    throw new CoreError('DSP_CORE_INVALID_ARGUMENT', `Not an IP address: "${ip}"`, { details: { ip } });
  }
  return classifyParsed(parsed);
}
