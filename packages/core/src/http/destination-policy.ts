/**
 * Which destinations a server that makes requests on others' behalf may call.
 *
 * Such a server that accepts any destination is a server-side request forgery engine: a caller could make
 * it reach the metadata service, an admin API, or anything else on the private network. The policy is
 * therefore applied twice:
 *
 * - when a destination is accepted, `checkUrl` refuses bad schemes, userinfo and refused IP literals, so
 *   the caller gets an error now instead of a message that can never be delivered;
 * - at connect time, `checkAddress` (through `safeLookup` / `createSafeConnector`) checks every address a
 *   name resolves to, so a name that resolves to a refused address — or is re-pointed there later (DNS
 *   rebinding) — is refused on the socket actually being opened.
 *
 * Two trust models come as presets (see {@link DESTINATION_POLICY_PRESETS}): `public-only` for destinations
 * named by untrusted callers (the proxy), `internal-network` for destinations configured by operators (the
 * push gateway's subscriber URLs).
 */
import { CoreError } from '../errors.js';
import { type AddressClass, classifyParsed, inPrefix, type ParsedIp, parseIp } from './classify-address.js';
import { CLOUD_METADATA_HOST_NAMES, isCloudMetadataParsed } from './cloud-metadata.js';
import { type DestinationEntry, normalizeHost, parseDestinationEntry } from './parse-allowed-destinations.js';

/** Outcome of a policy check; `reason` is human text naming the host or address. */
export type PolicyCheck = { ok: true } | { ok: false; reason: string };

/** Decides which destinations may be called. */
export interface DestinationPolicy {
  /** Checks a destination URL when it is accepted. */
  checkUrl(url: URL): PolicyCheck;
  /** Checks a resolved address at connect time (DNS-rebinding safe). `host`/`port` are the URL's. */
  checkAddress(host: string, port: number, address: string): PolicyCheck;
}

/** The named trust models; see {@link DESTINATION_POLICY_PRESETS}. */
export type DestinationPolicyPreset = 'public-only' | 'internal-network';

/** The options a preset fills in. */
export interface DestinationPolicyClassOptions {
  /**
   * Address classes reachable when there is no allow-list. The host names `localhost` and `*.localhost`
   * count as `loopback`.
   * @defaultValue the preset's ({@link DESTINATION_POLICY_PRESETS})
   */
  allowedClasses?: readonly AddressClass[];
  /**
   * Address classes refused even when an allow-list entry matches: with these, a list can only narrow what
   * is reachable, never widen it.
   * @defaultValue the preset's ({@link DESTINATION_POLICY_PRESETS})
   */
  alwaysRefusedClasses?: readonly AddressClass[];
  /**
   * Refuse the well-known cloud metadata endpoints (`CLOUD_METADATA_ADDRESSES`, `CLOUD_METADATA_HOST_NAMES`)
   * even when their class is allowed or an allow-list entry matches.
   * @defaultValue the preset's ({@link DESTINATION_POLICY_PRESETS})
   */
  refuseCloudMetadata?: boolean;
}

/** Options of {@link createDestinationPolicy}. */
export interface DestinationPolicyOptions extends DestinationPolicyClassOptions {
  /**
   * Allow-list entries, as `parseAllowedDestinations` returns them. When non-empty, only matching
   * destinations pass. A name entry allows whatever the name resolves to; an IP or CIDR entry allows a
   * literal in it or a resolved address in it. A host name that matches no name entry passes `checkUrl`
   * only when the list holds IP/CIDR entries for its port, because only the resolved address can decide it;
   * `checkAddress` then does.
   * @defaultValue [] (no list: `allowedClasses` decides)
   */
  allowed?: readonly string[];
  /**
   * The trust model that fills in `allowedClasses`, `alwaysRefusedClasses` and `refuseCloudMetadata` when
   * they are left out.
   * @defaultValue 'public-only'
   */
  preset?: DestinationPolicyPreset;
  /**
   * The name of the allow-list setting, as refusal reasons and errors show it to the operator.
   * @defaultValue 'ALLOWED_DESTINATIONS'
   */
  settingName?: string;
}

/**
 * The trust models.
 *
 * - `public-only` (the default; the proxy's): callers name destinations, so without a list only public
 *   addresses and host names other than `localhost` pass; a list entry is the operator's explicit
 *   decision and may reach any address, private and metadata ones included.
 * - `internal-network` (the push gateway's): operators configure destinations, which are usually internal
 *   hosts, so loopback, private, reserved and public addresses pass; link-local (which holds the metadata
 *   service 169.254.169.254), unspecified and multicast addresses and the cloud metadata endpoints are
 *   always refused, even when listed, so a list can only narrow.
 */
export const DESTINATION_POLICY_PRESETS: Readonly<
  Record<DestinationPolicyPreset, Readonly<Required<DestinationPolicyClassOptions>>>
> = Object.freeze({
  'public-only': Object.freeze({
    allowedClasses: Object.freeze(['public'] as const),
    alwaysRefusedClasses: Object.freeze([] as const),
    refuseCloudMetadata: false,
  }),
  'internal-network': Object.freeze({
    allowedClasses: Object.freeze(['public', 'private', 'loopback', 'reserved'] as const),
    alwaysRefusedClasses: Object.freeze(['link-local', 'unspecified', 'multicast'] as const),
    refuseCloudMetadata: true,
  }),
});

/** Defaults of {@link DestinationPolicyOptions} (the class options come from the preset). */
export const DEFAULT_DESTINATION_POLICY_OPTIONS: Readonly<
  Required<Pick<DestinationPolicyOptions, 'allowed' | 'preset' | 'settingName'>>
> = Object.freeze({ allowed: Object.freeze([]), preset: 'public-only', settingName: 'ALLOWED_DESTINATIONS' });

const OK: PolicyCheck = { ok: true };

function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}

function portMatches(entry: { port: number | undefined }, port: number): boolean {
  return entry.port === undefined || entry.port === port;
}

function nameMatches(entry: DestinationEntry, host: string, port: number): boolean {
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

function addressMatches(entry: DestinationEntry, ip: ParsedIp, port: number): boolean {
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

function classList(value: unknown, name: string): ReadonlySet<AddressClass> {
  if (!Array.isArray(value)) {
    throw new CoreError('DSP_CORE_INVALID_ARGUMENT', `${name} must be an array of address classes`);
  }
  return new Set(value as AddressClass[]);
}

/**
 * Builds a destination policy. Only `http:` and `https:` URLs without userinfo pass.
 *
 * @throws CoreError `DSP_CORE_DESTINATION_LIST_INVALID` naming an invalid allow-list entry;
 *   `DSP_CORE_INVALID_ARGUMENT` for an unknown preset
 */
export function createDestinationPolicy(options: DestinationPolicyOptions = {}): DestinationPolicy {
  const preset = options.preset ?? DEFAULT_DESTINATION_POLICY_OPTIONS.preset;
  const base = DESTINATION_POLICY_PRESETS[preset];
  if (base === undefined) {
    throw new CoreError('DSP_CORE_INVALID_ARGUMENT', `Unknown destination policy preset "${preset}"`);
  }
  const settingName = options.settingName ?? DEFAULT_DESTINATION_POLICY_OPTIONS.settingName;
  const allowedClasses = classList(options.allowedClasses ?? base.allowedClasses, 'allowedClasses');
  const refusedClasses = classList(
    options.alwaysRefusedClasses ?? base.alwaysRefusedClasses,
    'alwaysRefusedClasses',
  );
  const refuseMetadata = options.refuseCloudMetadata ?? base.refuseCloudMetadata;
  const entries = (options.allowed ?? DEFAULT_DESTINATION_POLICY_OPTIONS.allowed).map((entry) =>
    parseDestinationEntry(entry, { settingName }),
  );
  const restricted = entries.length > 0;

  function refuseClass(address: string, kind: AddressClass): PolicyCheck {
    if (refusedClasses.has(kind))
      return { ok: false, reason: `${address} is a ${kind} address, never allowed` };
    return { ok: false, reason: `${address} is a ${kind} address; add it to ${settingName} to allow it` };
  }

  function notListed(host: string, port: number): PolicyCheck {
    return { ok: false, reason: `${host}:${port} is not in ${settingName}` };
  }

  /** The refusals no allow-list entry can lift; undefined when none applies. */
  function alwaysRefused(host: string, ip: ParsedIp | undefined, shown: string): PolicyCheck | undefined {
    if (refuseMetadata && (CLOUD_METADATA_HOST_NAMES.includes(host) || (ip && isCloudMetadataParsed(ip)))) {
      return { ok: false, reason: `${shown} is a cloud metadata endpoint, never allowed` };
    }
    if (refusedClasses.has('loopback') && isLocalhostName(host)) return refuseClass(host, 'loopback');
    if (ip === undefined) return undefined;
    const kind = classifyParsed(ip);
    return refusedClasses.has(kind) ? refuseClass(shown, kind) : undefined;
  }

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
    const never = alwaysRefused(host, ip, host);
    if (never) return never;
    if (!restricted) {
      if (ip !== undefined) {
        const kind = classifyParsed(ip);
        return allowedClasses.has(kind) ? OK : refuseClass(host, kind);
      }
      return isLocalhostName(host) && !allowedClasses.has('loopback') ? refuseClass(host, 'loopback') : OK;
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
    const never = alwaysRefused(host, ip, `${host} resolves to ${address}, which`);
    if (never) return never;
    if (!restricted) {
      if (isLocalhostName(host) && !allowedClasses.has('loopback')) return refuseClass(host, 'loopback');
      const kind = classifyParsed(ip);
      return allowedClasses.has(kind) ? OK : refuseClass(`${host} resolves to ${address}, which`, kind);
    }
    const hostIsName = parseIp(host) === undefined;
    if (hostIsName && entries.some((entry) => nameMatches(entry, host, port))) return OK;
    if (entries.some((entry) => addressMatches(entry, ip, port))) return OK;
    return {
      ok: false,
      reason: `${host}:${port} resolves to ${address}, which ${settingName} does not allow`,
    };
  }

  return { checkUrl, checkAddress };
}
