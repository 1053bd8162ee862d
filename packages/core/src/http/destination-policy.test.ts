import dns from 'node:dns';
import { beforeEach, describe, expect, it } from 'vitest';
import { fetchVia, useReachedServer } from '../../test/helpers/reached-server.js';
import { thrownCode } from '../../test/helpers/thrown-code.js';
import {
  type AddressClass,
  classifyAddress,
  createDestinationPolicy,
  type DestinationPolicy,
  type LookupFunction,
  parseAllowedDestinations,
  safeLookup,
} from './index.js';

describe('classifyAddress', () => {
  const cases: ReadonlyArray<readonly [string, AddressClass]> = [
    // IPv4
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'private'],
    ['100.127.255.255', 'private'],
    ['100.128.0.0', 'public'],
    ['100.63.255.255', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.15.255.255', 'public'],
    ['172.32.0.0', 'public'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['192.88.99.1', 'reserved'],
    ['192.168.1.1', 'private'],
    ['192.169.0.1', 'public'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['198.20.0.0', 'public'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['93.184.215.14', 'public'],
    // IPv6
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    ['::8.8.8.8', 'reserved'],
    ['64:ff9b::a00:1', 'private'],
    ['64:ff9b::808:808', 'public'],
    ['64:ff9b:1::1', 'private'],
    ['100::1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'reserved'],
    ['2002:7f00:1::1', 'loopback'],
    ['2002:808:808::1', 'public'],
    ['3fff::1', 'reserved'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['2606:4700:4700::1111', 'public'],
    ['2a00:1450:4001:81b::200e', 'public'],
    ['4000::1', 'reserved'],
    ['1::1', 'reserved'],
  ];

  it.each(cases)('%s is %s', (ip, kind) => {
    expect(classifyAddress(ip)).toBe(kind);
  });

  it('throws DSP_CORE_INVALID_ARGUMENT for anything that is not an IP literal', () => {
    for (const bad of ['example.com', '', '127.1', '010.0.0.1', '1.2.3.4.5', ':::', 'fe80::1%']) {
      expect(
        thrownCode(() => classifyAddress(bad)),
        bad,
      ).toBe('DSP_CORE_INVALID_ARGUMENT');
    }
  });
});

describe('parseAllowedDestinations', () => {
  it('splits, trims and drops empty entries', () => {
    expect(parseAllowedDestinations(' a.example.com , b.example.com:8080,,*.c.example.com, ')).toEqual([
      'a.example.com',
      'b.example.com:8080',
      '*.c.example.com',
    ]);
    expect(parseAllowedDestinations('')).toEqual([]);
    expect(parseAllowedDestinations(' , ')).toEqual([]);
  });

  it('accepts every documented entry form', () => {
    const value =
      '*,h,h:1,*.d.example,*.d.example:443,10.0.0.0/8,fd00::/8,127.0.0.1:9000,::1,[::1]:9000,1.2.3.4';
    expect(parseAllowedDestinations(value)).toHaveLength(11);
  });

  it.each([
    ['http://example.com', 'http://example.com'],
    ['user@example.com', 'user@example.com'],
    ['example.com/path', 'not a valid IP network'],
    ['example.com:0', 'port must be'],
    ['example.com:65536', 'port must be'],
    ['example.com:http', 'port must be'],
    ['example.com:', 'port must be'],
    ['*example.com', 'leading'],
    ['a.*.example.com', 'leading'],
    ['*.10.0.0.1', 'domain name'],
    ['10.0.0.0/33', 'prefix length'],
    ['fd00::/129', 'prefix length'],
    ['10.0.0.0/-1', 'prefix length'],
    ['10.1.0.0/8', 'bits set'],
    ['bad host', 'bad host'],
    ['exa_mple..com:80:90', 'exa_mple..com:80:90'],
    ['[example.com]:80', 'ipv6'],
    ['1.2.3.256', 'not a valid host'],
  ])('rejects %s naming the entry', (entry, hint) => {
    expect(thrownCode(() => parseAllowedDestinations(entry))).toBe('DSP_CORE_DESTINATION_LIST_INVALID');
    expect(() => parseAllowedDestinations(`ok.example.com,${entry}`)).toThrow(`"${entry.trim()}"`);
    expect(() => parseAllowedDestinations(entry)).toThrow(hint);
  });
});

function check(policy: DestinationPolicy, url: string): boolean {
  return policy.checkUrl(new URL(url)).ok;
}

describe('default policy (no list)', () => {
  const policies = [createDestinationPolicy(), createDestinationPolicy({ allowed: [] })];

  it.each(policies.map((p, i) => [i, p] as const))('allows names and public literals (%i)', (_, policy) => {
    expect(check(policy, 'http://api.example.com/x')).toBe(true);
    expect(check(policy, 'https://api.example.com:8443/')).toBe(true);
    expect(check(policy, 'http://8.8.8.8/')).toBe(true);
    expect(check(policy, 'http://[2606:4700:4700::1111]/')).toBe(true);
  });

  it.each(policies.map((p, i) => [i, p] as const))(
    'refuses non-public literals and localhost names (%i)',
    (_, policy) => {
      for (const url of [
        'http://127.0.0.1/',
        'http://127.1/', // WHATWG URL normalizes to 127.0.0.1
        'http://0x7f000001/',
        'http://2130706433/',
        'http://10.0.0.1/',
        'http://192.168.0.10:8080/',
        'http://169.254.169.254/latest/meta-data',
        'http://0.0.0.0/',
        'http://[::1]/',
        'http://[::ffff:127.0.0.1]/',
        'http://[fd00::1]/',
        'http://[fe80::1]/',
        'http://224.0.0.1/',
        'http://localhost/',
        'http://LOCALHOST./',
        'http://api.localhost:3000/',
      ]) {
        const result = policy.checkUrl(new URL(url));
        expect(result.ok, url).toBe(false);
      }
    },
  );

  it('names the address and its class in the reason', () => {
    expect(createDestinationPolicy().checkUrl(new URL('http://10.1.2.3/'))).toEqual({
      ok: false,
      reason: '10.1.2.3 is a private address; add it to ALLOWED_DESTINATIONS to allow it',
    });
  });

  it('refuses other schemes and userinfo whatever the list says', () => {
    for (const policy of [createDestinationPolicy(), createDestinationPolicy({ allowed: ['*'] })]) {
      expect(policy.checkUrl(new URL('ftp://example.com/'))).toMatchObject({ ok: false, reason: /ftp:/ });
      expect(policy.checkUrl(new URL('file:///etc/passwd')).ok).toBe(false);
      expect(policy.checkUrl(new URL('ws://example.com/')).ok).toBe(false);
      expect(policy.checkUrl(new URL('http://user:pw@example.com/'))).toMatchObject({
        ok: false,
        reason: /userinfo/,
      });
      expect(policy.checkUrl(new URL('http://user@example.com/')).ok).toBe(false);
      expect(policy.checkUrl(new URL('http://:pw@example.com/')).ok).toBe(false);
    }
  });

  it('checkAddress refuses names that resolve to non-public addresses', () => {
    const policy = createDestinationPolicy();
    expect(policy.checkAddress('api.example.com', 443, '93.184.215.14')).toEqual({ ok: true });
    expect(policy.checkAddress('api.example.com', 443, '2606:4700:4700::1111')).toEqual({ ok: true });
    for (const address of ['127.0.0.1', '10.0.0.1', '::1', '::ffff:10.0.0.1', 'fe80::1%lo0', '0.0.0.0']) {
      const result = policy.checkAddress('rebind.example.com', 443, address);
      expect(result.ok, address).toBe(false);
    }
    expect(policy.checkAddress('rebind.example.com', 80, '169.254.169.254')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('rebind.example.com resolves to 169.254.169.254') as unknown,
    });
    // localhost is refused by name even if it somehow resolved to a public address.
    expect(policy.checkAddress('localhost', 80, '8.8.8.8').ok).toBe(false);
    expect(policy.checkAddress('api.example.com', 80, 'not-an-ip')).toMatchObject({ ok: false });
  });
});

describe('policy with a list', () => {
  it('"*" allows everything, including internal addresses (explicit open relay)', () => {
    const policy = createDestinationPolicy({ allowed: ['*'] });
    expect(check(policy, 'http://127.0.0.1:9000/')).toBe(true);
    expect(check(policy, 'http://localhost/')).toBe(true);
    expect(check(policy, 'http://anything.example/')).toBe(true);
    expect(policy.checkAddress('x.example', 80, '10.0.0.1').ok).toBe(true);
  });

  it('host entries match any port, case-insensitively, ignoring a trailing dot', () => {
    const policy = createDestinationPolicy({ allowed: ['API.Example.com.'] });
    expect(check(policy, 'http://api.example.com/')).toBe(true);
    expect(check(policy, 'https://API.EXAMPLE.COM:8443/')).toBe(true);
    expect(check(policy, 'http://api.example.com./')).toBe(true);
    expect(check(policy, 'http://other.example.com/')).toBe(false);
    expect(check(policy, 'http://x.api.example.com/')).toBe(false);
    expect(check(policy, 'http://example.com/')).toBe(false);
  });

  it('host:port entries match only that port, defaulting 80/443 from the scheme', () => {
    const policy = createDestinationPolicy({
      allowed: ['a.example.com:443', 'b.example.com:8080', 'c.example.com:80'],
    });
    expect(check(policy, 'https://a.example.com/')).toBe(true);
    expect(check(policy, 'https://a.example.com:443/')).toBe(true);
    expect(check(policy, 'http://a.example.com/')).toBe(false);
    expect(check(policy, 'http://a.example.com:443/')).toBe(true);
    expect(check(policy, 'http://b.example.com:8080/')).toBe(true);
    expect(check(policy, 'http://b.example.com/')).toBe(false);
    expect(check(policy, 'http://c.example.com/')).toBe(true);
    expect(check(policy, 'https://c.example.com/')).toBe(false);
    expect(policy.checkUrl(new URL('http://b.example.com:9/'))).toEqual({
      ok: false,
      reason: 'b.example.com:9 is not in ALLOWED_DESTINATIONS',
    });
  });

  it('*.domain matches subdomains at any depth but not the domain itself', () => {
    const policy = createDestinationPolicy({ allowed: ['*.example.com', '*.svc.internal:8443'] });
    expect(check(policy, 'http://a.example.com/')).toBe(true);
    expect(check(policy, 'http://a.b.c.example.com:1234/')).toBe(true);
    expect(check(policy, 'http://example.com/')).toBe(false);
    expect(check(policy, 'http://badexample.com/')).toBe(false);
    expect(check(policy, 'http://example.com.evil.net/')).toBe(false);
    expect(check(policy, 'https://x.svc.internal:8443/')).toBe(true);
    expect(check(policy, 'https://x.svc.internal/')).toBe(false);
  });

  it('a name entry allows whatever the name resolves to, even internal addresses', () => {
    const policy = createDestinationPolicy({ allowed: ['internal.example', 'localhost:9000'] });
    expect(policy.checkAddress('internal.example', 80, '10.0.0.5').ok).toBe(true);
    expect(policy.checkAddress('INTERNAL.example.', 80, '127.0.0.1').ok).toBe(true);
    expect(check(policy, 'http://localhost:9000/')).toBe(true);
    expect(policy.checkAddress('localhost', 9000, '127.0.0.1').ok).toBe(true);
    expect(policy.checkAddress('localhost', 9001, '127.0.0.1').ok).toBe(false);
    expect(policy.checkAddress('other.example', 80, '8.8.8.8')).toEqual({
      ok: false,
      reason: 'other.example:80 resolves to 8.8.8.8, which ALLOWED_DESTINATIONS does not allow',
    });
  });

  it('IP entries allow that literal, with an optional port', () => {
    const policy = createDestinationPolicy({ allowed: ['127.0.0.1:9000', '::1', '[fd00::1]:8080'] });
    expect(check(policy, 'http://127.0.0.1:9000/')).toBe(true);
    expect(check(policy, 'http://127.0.0.1:9001/')).toBe(false);
    expect(check(policy, 'http://127.0.0.2:9000/')).toBe(false);
    expect(check(policy, 'http://[::1]/')).toBe(true);
    expect(check(policy, 'http://[::1]:5/')).toBe(true);
    expect(check(policy, 'http://[fd00::1]:8080/')).toBe(true);
    expect(check(policy, 'http://[fd00::1]/')).toBe(false);
    // IPv4-mapped form of an allowed IPv4 literal reaches the same host, so it matches too.
    expect(check(policy, 'http://[::ffff:127.0.0.1]:9000/')).toBe(true);
    expect(policy.checkAddress('127.0.0.1', 9000, '127.0.0.1').ok).toBe(true);
  });

  it('CIDR entries allow literals inside them and names that resolve inside them', () => {
    const policy = createDestinationPolicy({ allowed: ['10.0.0.0/8', 'fd00::/8'] });
    expect(check(policy, 'http://10.20.30.40:5000/')).toBe(true);
    expect(check(policy, 'http://11.0.0.1/')).toBe(false);
    expect(check(policy, 'http://[fd12::1]/')).toBe(true);
    expect(check(policy, 'http://[fe80::1]/')).toBe(false);
    // A name cannot be decided at ingest when address entries exist; connect time decides.
    expect(check(policy, 'http://svc.internal/')).toBe(true);
    expect(policy.checkAddress('svc.internal', 80, '10.9.9.9').ok).toBe(true);
    expect(policy.checkAddress('svc.internal', 80, '::ffff:10.9.9.9').ok).toBe(true);
    expect(policy.checkAddress('svc.internal', 80, 'fd00::9').ok).toBe(true);
    expect(policy.checkAddress('svc.internal', 80, '192.168.0.1').ok).toBe(false);
    expect(policy.checkAddress('svc.internal', 80, '8.8.8.8').ok).toBe(false);
  });

  it('a name with no matching entry is refused at ingest when the list has only name entries', () => {
    const policy = createDestinationPolicy({ allowed: ['a.example.com', '*.b.example.com'] });
    expect(check(policy, 'http://c.example.com/')).toBe(false);
    expect(check(policy, 'http://8.8.8.8/')).toBe(false);
  });

  it('IPv4-mapped CIDR entries cover the IPv4 addresses', () => {
    const policy = createDestinationPolicy({ allowed: ['::ffff:10.0.0.0/104'] });
    expect(policy.checkAddress('x', 80, '10.1.1.1').ok).toBe(true);
    expect(policy.checkAddress('x', 80, '11.1.1.1').ok).toBe(false);
  });

  it('host and address entries combine; a list never falls back to the default rules', () => {
    const policy = createDestinationPolicy({ allowed: ['api.example.com', '127.0.0.1:9000'] });
    expect(check(policy, 'http://api.example.com/')).toBe(true);
    expect(check(policy, 'http://public.example.org:9000/')).toBe(true); // deferred to connect time
    expect(policy.checkAddress('public.example.org', 9000, '8.8.8.8').ok).toBe(false);
    expect(policy.checkAddress('public.example.org', 9000, '127.0.0.1').ok).toBe(true);
    expect(check(policy, 'http://public.example.org/')).toBe(false); // no address entry for port 80
  });

  it('rejects an invalid entry when the policy is built', () => {
    expect(() => createDestinationPolicy({ allowed: ['ok.example', 'bad/33'] })).toThrow('"bad/33"');
    expect(thrownCode(() => createDestinationPolicy({ allowed: ['bad/33'] }))).toBe(
      'DSP_CORE_DESTINATION_LIST_INVALID',
    );
  });
});

function lookupOnce(
  lookup: LookupFunction,
  host: string,
  all: boolean,
): Promise<{ error: NodeJS.ErrnoException | null; address: unknown; family: unknown }> {
  return new Promise((resolve) => {
    lookup(host, { all }, (error, address, family) => resolve({ error, address, family }));
  });
}

describe('safeLookup', () => {
  it('fails with DSP_CORE_DESTINATION_NOT_ALLOWED naming host and address when nothing is allowed', async () => {
    const policy = createDestinationPolicy();
    const { error } = await lookupOnce(safeLookup(policy, '127.0.0.1', 80), '127.0.0.1', true);
    expect(error?.code).toBe('DSP_CORE_DESTINATION_NOT_ALLOWED');
    expect(error?.message).toContain('127.0.0.1');
    expect(error?.message).toContain('loopback');
  });

  it('resolves localhost with real DNS and refuses it by default', async () => {
    const policy = createDestinationPolicy();
    const { error } = await lookupOnce(safeLookup(policy, 'localhost', 80), 'localhost', true);
    expect(error?.code).toBe('DSP_CORE_DESTINATION_NOT_ALLOWED');
    expect(error?.message).toMatch(/localhost.*(127\.0\.0\.1|::1)/);
  });

  it('returns all allowed addresses when options.all is set', async () => {
    const expected = await dns.promises.lookup('localhost', { all: true });
    const policy = createDestinationPolicy({ allowed: ['localhost'] });
    const { error, address } = await lookupOnce(safeLookup(policy, 'localhost', 80), 'localhost', true);
    expect(error).toBeNull();
    expect(address).toEqual(expected);
  });

  it('returns one address and its family when options.all is not set', async () => {
    const policy = createDestinationPolicy({ allowed: ['127.0.0.1'] });
    const result = await lookupOnce(safeLookup(policy, '127.0.0.1', 80), '127.0.0.1', false);
    expect(result).toEqual({ error: null, address: '127.0.0.1', family: 4 });
  });

  it('filters out refused addresses and keeps the allowed ones', async () => {
    const resolved = await dns.promises.lookup('localhost', { all: true });
    const v4 = resolved.filter((entry) => entry.family === 4);
    // Allow only IPv4 loopback: any ::1 answer must be dropped.
    const policy = createDestinationPolicy({ allowed: ['127.0.0.0/8'] });
    const { error, address } = await lookupOnce(safeLookup(policy, 'localhost', 80), 'localhost', true);
    if (v4.length === 0) {
      expect(error?.code).toBe('DSP_CORE_DESTINATION_NOT_ALLOWED');
    } else {
      expect(error).toBeNull();
      expect(address).toEqual(v4);
    }
  });

  it('passes DNS errors through unchanged', async () => {
    const policy = createDestinationPolicy({ allowed: ['*'] });
    const { error } = await lookupOnce(safeLookup(policy, 'x.invalid', 80), 'no-such-host.invalid', true);
    expect(error).not.toBeNull();
    expect(error?.code).not.toBe('DSP_CORE_DESTINATION_NOT_ALLOWED');
  });
});

describe('createSafeConnector with an undici Agent', () => {
  const target = useReachedServer();
  let port = 0;
  beforeEach(() => {
    port = target.port();
  });

  it('refuses an IP literal the policy refuses, before any socket is opened', async () => {
    await expect(fetchVia(createDestinationPolicy(), `http://127.0.0.1:${port}/`)).rejects.toMatchObject({
      code: 'DSP_CORE_DESTINATION_NOT_ALLOWED',
    });
  });

  it('refuses a name that resolves to a refused address (localhost by default)', async () => {
    await expect(fetchVia(createDestinationPolicy(), `http://localhost:${port}/`)).rejects.toMatchObject({
      code: 'DSP_CORE_DESTINATION_NOT_ALLOWED',
    });
  });

  it('refuses a name whose port does not match its host:port entry', async () => {
    const policy = createDestinationPolicy({ allowed: [`localhost:${port + 1 > 65_535 ? 1 : port + 1}`] });
    await expect(fetchVia(policy, `http://localhost:${port}/`)).rejects.toMatchObject({
      code: 'DSP_CORE_DESTINATION_NOT_ALLOWED',
    });
  });

  it('connects when an entry allows the literal', async () => {
    await expect(
      fetchVia(createDestinationPolicy({ allowed: [`127.0.0.1:${port}`] }), `http://127.0.0.1:${port}/`),
    ).resolves.toBe('reached');
  });

  it('connects to a name whose resolved address is allowed (IPv4 loopback only)', async () => {
    const v4 = (await dns.promises.lookup('localhost', { all: true })).some((entry) => entry.family === 4);
    if (!v4) return;
    await expect(
      fetchVia(createDestinationPolicy({ allowed: ['127.0.0.0/8'] }), `http://localhost:${port}/`),
    ).resolves.toBe('reached');
  });
});
