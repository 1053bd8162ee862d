/**
 * Which destinations the proxy may call (the `ALLOWED_DESTINATIONS` setting).
 *
 * A store-and-forward proxy that accepts any destination is a server-side request forgery engine: a caller
 * could make it reach the metadata service, the admin API, or anything else on the private network. The
 * policy is therefore applied twice:
 *
 * - at ingest, `checkUrl` refuses bad schemes, userinfo and non-public IP literals so the caller gets a 400
 *   instead of a message that can never be delivered;
 * - at connect time, `checkAddress` (through {@link safeLookup} / {@link createSafeConnector}) checks every
 *   address a name resolves to, so a name that resolves to a private address — or is re-pointed there
 *   after ingest (DNS rebinding) — is refused on the socket actually being opened.
 *
 * Entry forms: `*`, `host`, `host:port`, `*.domain[:port]`, an IP (`10.1.2.3`, `::1`, `[::1]:9000`,
 * `127.0.0.1:9000`), or a CIDR (`10.0.0.0/8`, `fd00::/8`).
 */
import dns from 'node:dns';
import net from 'node:net';
import { buildConnector } from 'undici';

/** The kind of network an IP address belongs to. Everything except `public` is refused by default. */
export type AddressClass =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unspecified'
  | 'multicast'
  | 'reserved'
  | 'public';

/** Outcome of a policy check; `reason` is human text naming the host or address. */
export type PolicyCheck = { ok: true } | { ok: false; reason: string };

/** Decides which destinations the proxy may call. */
export interface DestinationPolicy {
  /** Checks a destination URL at ingest. */
  checkUrl(url: URL): PolicyCheck;
  /** Checks a resolved address at connect time (DNS-rebinding safe). `host`/`port` are the URL's. */
  checkAddress(host: string, port: number, address: string): PolicyCheck;
}

interface ParsedIp {
  family: 4 | 6;
  value: bigint;
}

type Entry =
  | { kind: 'any' }
  | { kind: 'name'; host: string; port: number | undefined }
  | { kind: 'suffix'; suffix: string; port: number | undefined }
  | { kind: 'net'; family: 4 | 6; base: bigint; prefix: number; port: number | undefined };

const OK: PolicyCheck = { ok: true };
const ERR_NOT_ALLOWED = 'EDESTINATIONNOTALLOWED';

// ---------------------------------------------------------------------------------------------------------
// IP parsing and classification

/** Parses an IPv4 or IPv6 literal (brackets and an IPv6 zone are tolerated); IPv4-mapped IPv6 is unmapped. */
function parseIp(text: string): ParsedIp | undefined {
  const ip = parseIpRaw(text);
  return ip === undefined ? undefined : unmap(ip);
}

function parseIpRaw(text: string): ParsedIp | undefined {
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

// ::ffff:a.b.c.d reaches the same host as a.b.c.d, so it is matched and classified as IPv4.
function unmap(ip: ParsedIp): ParsedIp {
  if (ip.family === 6 && ip.value >> 32n === 0xffffn) return { family: 4, value: ip.value & 0xffffffffn };
  return ip;
}

function inPrefix(value: bigint, bits: number, base: bigint, prefix: number): boolean {
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

function classifyParsed(ip: ParsedIp): AddressClass {
  if (ip.family === 4) {
    for (const [base, prefix, kind] of IPV4_RANGES) if (inPrefix(ip.value, 32, base, prefix)) return kind;
    return 'public';
  }
  // Translation prefixes embed an IPv4 address that the translator will reach on our behalf.
  if (inPrefix(ip.value, 128, NAT64_WELL_KNOWN, 96))
    return classifyParsed({ family: 4, value: ip.value & 0xffffffffn });
  if (inPrefix(ip.value, 128, SIX_TO_FOUR, 16)) {
    return classifyParsed({ family: 4, value: (ip.value >> 80n) & 0xffffffffn });
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
 * @throws TypeError when `ip` is not an IP literal
 */
export function classifyAddress(ip: string): AddressClass {
  const parsed = parseIp(ip);
  if (parsed === undefined) throw new TypeError(`Not an IP address: "${ip}"`);
  return classifyParsed(parsed);
}

// ---------------------------------------------------------------------------------------------------------
// Entries

function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  // "example.com." and "example.com" name the same host.
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}

function parsePort(text: string, entry: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65_535) {
    throw new Error(`Invalid ALLOWED_DESTINATIONS entry "${entry}": port must be an integer 1-65535`);
  }
  return Number(text);
}

// Runs the host through the WHATWG URL parser so entries normalize exactly like request URLs do
// (case, IDN to punycode, "127.1" to "127.0.0.1").
function canonicalHost(host: string, entry: string): string {
  const bracketed = net.isIPv6(host) ? `[${host}]` : host;
  let url: URL;
  try {
    url = new URL(`http://${bracketed}/`);
  } catch {
    throw new Error(`Invalid ALLOWED_DESTINATIONS entry "${entry}": "${host}" is not a valid host`);
  }
  const canonical = normalizeHost(url.hostname);
  if (canonical === '') throw new Error(`Invalid ALLOWED_DESTINATIONS entry "${entry}": empty host`);
  return canonical;
}

function splitHostPort(text: string, entry: string): { host: string; port: number | undefined } {
  if (text.startsWith('[')) {
    const match = /^\[([^\]]+)\](?::([^:]*))?$/.exec(text);
    if (!match || !net.isIPv6(match[1]!)) {
      throw new Error(`Invalid ALLOWED_DESTINATIONS entry "${entry}": expected [ipv6] or [ipv6]:port`);
    }
    return { host: match[1]!, port: match[2] === undefined ? undefined : parsePort(match[2], entry) };
  }
  const colons = text.split(':').length - 1;
  // More than one colon can only be a bare IPv6 address, which cannot carry a port without brackets.
  if (colons > 1) {
    if (!net.isIPv6(text))
      throw new Error(`Invalid ALLOWED_DESTINATIONS entry "${entry}": not a valid address`);
    return { host: text, port: undefined };
  }
  if (colons === 1) {
    const at = text.indexOf(':');
    return { host: text.slice(0, at), port: parsePort(text.slice(at + 1), entry) };
  }
  return { host: text, port: undefined };
}

function parseCidr(text: string, entry: string): Entry {
  const slash = text.lastIndexOf('/');
  const ip = parseIpRaw(text.slice(0, slash));
  if (ip === undefined)
    throw new Error(`Invalid ALLOWED_DESTINATIONS entry "${entry}": not a valid IP network`);
  const bits = ip.family === 4 ? 32 : 128;
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
    throw new Error(`Invalid ALLOWED_DESTINATIONS entry "${entry}": prefix length must be 0-${bits}`);
  }
  let network: ParsedIp = ip;
  let prefix = Number(prefixText);
  // Addresses are unmapped before matching, so an IPv4-mapped network (::ffff:10.0.0.0/104) is kept as the
  // IPv4 network it covers.
  const mapped = unmap(ip);
  if (mapped.family !== ip.family && prefix >= 96) {
    network = mapped;
    prefix -= 96;
  }
  const hostMask = (1n << BigInt((network.family === 4 ? 32 : 128) - prefix)) - 1n;
  // "10.1.2.3/8" is probably a typo; refusing it beats guessing which network was meant.
  if ((network.value & hostMask) !== 0n) {
    throw new Error(`Invalid ALLOWED_DESTINATIONS entry "${entry}": address has bits set beyond the prefix`);
  }
  return { kind: 'net', family: network.family, base: network.value, prefix, port: undefined };
}

function parseEntry(raw: string): Entry {
  const entry = raw.trim();
  if (entry === '') throw new Error('Invalid ALLOWED_DESTINATIONS entry "": empty entry');
  if (entry === '*') return { kind: 'any' };
  if (/[\s@?#\\]/.test(entry) || /:\/\//.test(entry)) {
    throw new Error(
      `Invalid ALLOWED_DESTINATIONS entry "${entry}": expected host, host:port, *.domain, IP or CIDR`,
    );
  }
  if (entry.includes('/')) return parseCidr(entry, entry);
  const wildcard = entry.startsWith('*.');
  const rest = wildcard ? entry.slice(2) : entry;
  if (rest.includes('*')) {
    throw new Error(
      `Invalid ALLOWED_DESTINATIONS entry "${entry}": "*" is only allowed as a leading "*." label`,
    );
  }
  const { host, port } = splitHostPort(rest, entry);
  const canonical = canonicalHost(host, entry);
  const ip = parseIp(canonical);
  if (wildcard) {
    if (ip !== undefined) {
      throw new Error(
        `Invalid ALLOWED_DESTINATIONS entry "${entry}": "*." needs a domain name, not an address`,
      );
    }
    return { kind: 'suffix', suffix: `.${canonical}`, port };
  }
  if (ip !== undefined)
    return { kind: 'net', family: ip.family, base: ip.value, prefix: ip.family === 4 ? 32 : 128, port };
  return { kind: 'name', host: canonical, port };
}

/**
 * Parses the comma-separated `ALLOWED_DESTINATIONS` value. Whitespace around entries and empty entries
 * (`a,,b`, a trailing comma) are ignored; an empty value yields `[]` (the default policy).
 *
 * @returns the trimmed entries, in order
 * @throws Error naming the first invalid entry and what was expected
 */
export function parseAllowedDestinations(value: string): string[] {
  const entries = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  for (const entry of entries) parseEntry(entry);
  return entries;
}

// ---------------------------------------------------------------------------------------------------------
// Policy

function portMatches(entry: { port: number | undefined }, port: number): boolean {
  return entry.port === undefined || entry.port === port;
}

function nameMatches(entry: Entry, host: string, port: number): boolean {
  switch (entry.kind) {
    case 'any':
      return true;
    case 'name':
      return entry.host === host && portMatches(entry, port);
    case 'suffix':
      return host.endsWith(entry.suffix) && portMatches(entry, port);
    case 'net':
      return false;
    default:
      return assertNever(entry);
  }
}

function addressMatches(entry: Entry, ip: ParsedIp, port: number): boolean {
  switch (entry.kind) {
    case 'any':
      return true;
    case 'name':
    case 'suffix':
      return false;
    case 'net':
      return (
        entry.family === ip.family &&
        inPrefix(ip.value, ip.family === 4 ? 32 : 128, entry.base, entry.prefix) &&
        portMatches(entry, port)
      );
    default:
      return assertNever(entry);
  }
}

function assertNever(value: never): never {
  throw new Error(`Unexpected destination entry: ${JSON.stringify(value)}`);
}

function effectivePort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

function refuseClass(address: string, kind: AddressClass): PolicyCheck {
  return {
    ok: false,
    reason: `${address} is a ${kind} address; add it to ALLOWED_DESTINATIONS to allow it`,
  };
}

/**
 * Builds the destination policy.
 *
 * - `undefined` or `[]` (the default): any host name and any public IP literal is allowed; loopback,
 *   private, link-local, unspecified, multicast and reserved addresses are refused, both as literals and as
 *   what a name resolves to; `localhost` and `*.localhost` are refused by name.
 * - a list: only matching destinations are allowed, and a match allows non-public addresses too. A name
 *   entry allows whatever the name resolves to; an IP or CIDR entry allows a literal in it or a resolved
 *   address in it. A host name that matches no name entry passes `checkUrl` only when the list holds IP/CIDR
 *   entries for its port, because only the resolved address can decide it; `checkAddress` then does.
 *
 * Only `http:` and `https:` URLs without userinfo pass.
 *
 * @param allowed - entries as returned by {@link parseAllowedDestinations}
 * @throws Error naming an invalid entry
 */
export function createDestinationPolicy(allowed: readonly string[] | undefined): DestinationPolicy {
  const entries = (allowed ?? []).map(parseEntry);
  const restricted = entries.length > 0;

  function checkUrl(url: URL): PolicyCheck {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { ok: false, reason: `scheme "${url.protocol}" is not allowed; use http: or https:` };
    }
    if (url.username !== '' || url.password !== '') {
      return { ok: false, reason: 'credentials (userinfo) in the destination URL are not allowed' };
    }
    const host = normalizeHost(url.hostname);
    if (host === '') return { ok: false, reason: 'the destination URL has no host' };
    const port = effectivePort(url);
    const ip = parseIp(host);
    if (!restricted) {
      if (ip !== undefined) {
        const kind = classifyParsed(ip);
        return kind === 'public' ? OK : refuseClass(host, kind);
      }
      return isLocalhostName(host) ? refuseClass(host, 'loopback') : OK;
    }
    if (ip !== undefined) {
      return entries.some((entry) => addressMatches(entry, ip, port)) ? OK : notListed(host, port);
    }
    if (entries.some((entry) => nameMatches(entry, host, port))) return OK;
    // The resolved address may still fall inside an IP/CIDR entry; connect time decides.
    const addressEntryFits = entries.some((entry) => entry.kind === 'net' && portMatches(entry, port));
    return addressEntryFits ? OK : notListed(host, port);
  }

  function checkAddress(hostText: string, port: number, address: string): PolicyCheck {
    const ip = parseIp(address);
    if (ip === undefined) return { ok: false, reason: `"${address}" is not an IP address` };
    const host = normalizeHost(hostText);
    if (!restricted) {
      if (isLocalhostName(host)) return refuseClass(host, 'loopback');
      const kind = classifyParsed(ip);
      return kind === 'public' ? OK : refuseClass(`${host} resolves to ${address}, which`, kind);
    }
    const hostIsName = parseIp(host) === undefined;
    if (hostIsName && entries.some((entry) => nameMatches(entry, host, port))) return OK;
    if (entries.some((entry) => addressMatches(entry, ip, port))) return OK;
    return {
      ok: false,
      reason: `${host}:${port} resolves to ${address}, which ALLOWED_DESTINATIONS does not allow`,
    };
  }

  return { checkUrl, checkAddress };
}

function notListed(host: string, port: number): PolicyCheck {
  return { ok: false, reason: `${host}:${port} is not in ALLOWED_DESTINATIONS` };
}

// ---------------------------------------------------------------------------------------------------------
// Connect-time enforcement

/** Node's `dns.lookup`-style callback, as `net.connect`'s `lookup` option calls it. */
export type LookupFunction = NonNullable<net.TcpNetConnectOpts['lookup']>;

function notAllowedError(host: string, addresses: readonly string[], reason: string): NodeJS.ErrnoException {
  // Shaped like Node's own DNS errors (code + hostname) so socket error handling treats it alike.
  return Object.assign(
    new Error(`Destination ${host} refused: resolved to ${addresses.join(', ')}; ${reason}`),
    {
      code: ERR_NOT_ALLOWED,
      hostname: host,
    },
  );
}

/**
 * A `lookup` for `net.connect` / `tls.connect` (and so undici's `connect: { lookup }`) that resolves with
 * `dns.lookup` (all addresses), keeps only the addresses `policy.checkAddress` allows, and fails with an
 * error whose `code` is `EDESTINATIONNOTALLOWED` when none is left. Checking the addresses the socket will
 * actually use is what makes the policy safe against DNS rebinding.
 *
 * Note: `net.connect` skips `lookup` for IP-literal hosts, so literals must be checked by the caller
 * (`checkUrl` at ingest; {@link createSafeConnector} does it again at connect time).
 *
 * @param host - the destination URL's host, as the policy should see it
 * @param port - the destination URL's effective port
 */
export function safeLookup(policy: DestinationPolicy, host: string, port: number): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, '');
        return;
      }
      let reason = 'no address';
      const allowed = addresses.filter((entry) => {
        const check = policy.checkAddress(host, port, entry.address);
        if (!check.ok) reason = check.reason;
        return check.ok;
      });
      const first = allowed[0];
      if (first === undefined) {
        const all = addresses.map((entry) => entry.address);
        callback(notAllowedError(host, all, reason), '');
      } else if (options.all === true) {
        callback(null, allowed);
      } else {
        callback(null, first.address, first.family);
      }
    });
  };
}

/** Options of {@link createSafeConnector}: undici connector options plus a cache bound. */
export type SafeConnectorOptions = Omit<buildConnector.BuildOptions, 'lookup'> & {
  /**
   * How many per-origin connectors to keep (each holds its TLS session cache); the oldest is dropped.
   * @defaultValue 1024
   */
  maxCachedConnectors?: number;
};

/**
 * An undici `connect` function (for `new Agent({ connect })`) that enforces `policy` on every new socket.
 *
 * A single `connect: { lookup }` option cannot do this on its own: the lookup only sees the host name,
 * not the port that `host:port` entries need. So one undici connector is built per origin, each with a
 * {@link safeLookup} bound to that origin, and IP-literal hosts (for which `net.connect` skips the lookup)
 * are checked directly.
 */
export function createSafeConnector(
  policy: DestinationPolicy,
  options: SafeConnectorOptions = {},
): buildConnector.connector {
  const { maxCachedConnectors = 1024, ...connectorOptions } = options;
  const connectors = new Map<string, buildConnector.connector>();
  return (connectOptions, callback) => {
    const { hostname, protocol } = connectOptions;
    const port = connectOptions.port ? Number(connectOptions.port) : protocol === 'https:' ? 443 : 80;
    if (net.isIP(hostname) !== 0) {
      const check = policy.checkAddress(hostname, port, hostname);
      if (!check.ok) {
        callback(notAllowedError(hostname, [hostname], check.reason), null);
        return;
      }
    }
    const key = `${protocol}//${hostname}:${port}`;
    let connector = connectors.get(key);
    if (connector === undefined) {
      connector = buildConnector({ ...connectorOptions, lookup: safeLookup(policy, hostname, port) });
      if (connectors.size >= maxCachedConnectors) {
        const oldest = connectors.keys().next();
        if (oldest.done !== true) connectors.delete(oldest.value);
      }
      connectors.set(key, connector);
    }
    connector(connectOptions, callback);
  };
}
