/**
 * The allow-list grammar of the destination policy (`ALLOWED_DESTINATIONS` in the proxy).
 *
 * Entry forms: `*`, `host`, `host:port`, `*.domain[:port]`, an IP (`10.1.2.3`, `::1`, `[::1]:9000`,
 * `127.0.0.1:9000`), or a CIDR (`10.0.0.0/8`, `fd00::/8`).
 */
import net from 'node:net';
import { CoreError } from '../errors.js';
import { type ParsedIp, parseIp, parseIpRaw, unmap } from './classify-address.js';

/** One parsed allow-list entry. */
export type DestinationEntry =
  | { kind: 'any' }
  | { kind: 'name'; host: string; port: number | undefined }
  | { kind: 'suffix'; suffix: string; port: number | undefined }
  | { kind: 'net'; family: 4 | 6; base: bigint; prefix: number; port: number | undefined };

/** Options of {@link parseAllowedDestinations}. */
export interface AllowListOptions {
  /**
   * The setting's name, as error messages show it to the operator.
   * @defaultValue 'ALLOWED_DESTINATIONS'
   */
  settingName?: string;
}

/** Defaults of {@link AllowListOptions}. */
export const DEFAULT_ALLOW_LIST_OPTIONS: Readonly<Required<AllowListOptions>> = Object.freeze({
  settingName: 'ALLOWED_DESTINATIONS',
});

/** Lower case, no brackets, no trailing dot: the form hosts are compared in. */
export function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  // "example.com." and "example.com" name the same host.
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

class EntryParser {
  constructor(
    readonly entry: string,
    readonly settingName: string,
  ) {}

  fail(why: string): never {
    throw new CoreError(
      'DSP_CORE_DESTINATION_LIST_INVALID',
      `Invalid ${this.settingName} entry "${this.entry}": ${why}`,
      { details: { entry: this.entry, setting: this.settingName } },
    );
  }

  port(text: string): number {
    if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65_535) {
      this.fail('port must be an integer 1-65535');
    }
    return Number(text);
  }

  // Runs the host through the WHATWG URL parser so entries normalize exactly like request URLs do
  // (case, IDN to punycode, "127.1" to "127.0.0.1").
  canonicalHost(host: string): string {
    const bracketed = net.isIPv6(host) ? `[${host}]` : host;
    let url: URL;
    try {
      url = new URL(`http://${bracketed}/`);
    } catch {
      this.fail(`"${host}" is not a valid host`);
    }
    const canonical = normalizeHost(url.hostname);
    if (canonical === '') this.fail('empty host');
    return canonical;
  }

  splitHostPort(text: string): { host: string; port: number | undefined } {
    if (text.startsWith('[')) {
      const match = /^\[([^\]]+)\](?::([^:]*))?$/.exec(text);
      if (!match || !net.isIPv6(match[1] as string)) this.fail('expected [ipv6] or [ipv6]:port');
      return { host: match[1] as string, port: match[2] === undefined ? undefined : this.port(match[2]) };
    }
    const colons = text.split(':').length - 1;
    // More than one colon can only be a bare IPv6 address, which cannot carry a port without brackets.
    if (colons > 1) {
      if (!net.isIPv6(text)) this.fail('not a valid address');
      return { host: text, port: undefined };
    }
    if (colons === 1) {
      const at = text.indexOf(':');
      return { host: text.slice(0, at), port: this.port(text.slice(at + 1)) };
    }
    return { host: text, port: undefined };
  }

  cidr(text: string): DestinationEntry {
    const slash = text.lastIndexOf('/');
    const ip = parseIpRaw(text.slice(0, slash));
    if (ip === undefined) this.fail('not a valid IP network');
    const bits = ip.family === 4 ? 32 : 128;
    const prefixText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
      this.fail(`prefix length must be 0-${bits}`);
    }
    let network: ParsedIp = ip;
    let prefix = Number(prefixText);
    // Addresses are unmapped before matching, so an IPv4-mapped network (::ffff:10.0.0.0/104) is kept as
    // the IPv4 network it covers.
    const mapped = unmap(ip);
    if (mapped.family !== ip.family && prefix >= 96) {
      network = mapped;
      prefix -= 96;
    }
    const hostMask = (1n << BigInt((network.family === 4 ? 32 : 128) - prefix)) - 1n;
    // "10.1.2.3/8" is probably a typo; refusing it beats guessing which network was meant.
    if ((network.value & hostMask) !== 0n) this.fail('address has bits set beyond the prefix');
    return { kind: 'net', family: network.family, base: network.value, prefix, port: undefined };
  }

  parse(): DestinationEntry {
    const entry = this.entry;
    if (entry === '') this.fail('empty entry');
    if (entry === '*') return { kind: 'any' };
    if (/[\s@?#\\]/.test(entry) || /:\/\//.test(entry)) {
      this.fail('expected host, host:port, *.domain, IP or CIDR');
    }
    if (entry.includes('/')) return this.cidr(entry);
    const wildcard = entry.startsWith('*.');
    const rest = wildcard ? entry.slice(2) : entry;
    if (rest.includes('*')) this.fail('"*" is only allowed as a leading "*." label');
    const { host, port } = this.splitHostPort(rest);
    const canonical = this.canonicalHost(host);
    const ip = parseIp(canonical);
    if (wildcard) {
      if (ip !== undefined) this.fail('"*." needs a domain name, not an address');
      return { kind: 'suffix', suffix: `.${canonical}`, port };
    }
    if (ip !== undefined) {
      return { kind: 'net', family: ip.family, base: ip.value, prefix: ip.family === 4 ? 32 : 128, port };
    }
    return { kind: 'name', host: canonical, port };
  }
}

/**
 * Parses one allow-list entry.
 *
 * @throws CoreError `DSP_CORE_DESTINATION_LIST_INVALID` naming the entry and what was expected
 */
export function parseDestinationEntry(raw: string, options: AllowListOptions = {}): DestinationEntry {
  const settingName = options.settingName ?? DEFAULT_ALLOW_LIST_OPTIONS.settingName;
  return new EntryParser(raw.trim(), settingName).parse();
}

/**
 * Parses a comma-separated allow-list (the `ALLOWED_DESTINATIONS` value). Whitespace around entries and
 * empty entries (`a,,b`, a trailing comma) are ignored; an empty value yields `[]` (no list).
 *
 * @returns the trimmed entries, in order
 * @throws CoreError `DSP_CORE_DESTINATION_LIST_INVALID` naming the first invalid entry and what was expected
 */
export function parseAllowedDestinations(value: string, options: AllowListOptions = {}): string[] {
  const entries = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  for (const entry of entries) parseDestinationEntry(entry, options);
  return entries;
}
