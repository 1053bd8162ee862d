import { beforeEach, describe, expect, it } from 'vitest';
import { fetchVia, useReachedServer } from '../../test/helpers/reached-server.js';
import { thrownCode } from '../../test/helpers/thrown-code.js';
import { DispatcherError } from '../dispatcher-error.js';
import {
  createDestinationPolicy,
  createSafeConnector,
  DESTINATION_POLICY_PRESETS,
  type DestinationPolicy,
  isCloudMetadataAddress,
} from './index.js';

const passes = (policy: DestinationPolicy, url: string): boolean => policy.checkUrl(new URL(url)).ok;

describe('internal-network preset (operators configure the destinations)', () => {
  const policy = createDestinationPolicy({ preset: 'internal-network' });

  it.each([
    'http://10.1.2.3/',
    'http://192.168.1.10:8080/',
    'http://127.0.0.1:9000/',
    'http://localhost:9000/',
    'http://[fd00::1]/',
    'http://192.0.2.1/',
    'https://8.8.8.8/',
    'http://hooks.internal/',
  ])('allows %s without a list', (url) => {
    expect(passes(policy, url)).toBe(true);
  });

  it.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://169.254.1.1/',
    'http://[fe80::1]/',
    'http://0.0.0.0/',
    'http://224.0.0.1/',
    'http://100.100.100.200/',
    'http://[fd00:ec2::254]/',
    'http://[::ffff:169.254.169.254]/',
    'http://metadata.google.internal/',
  ])('refuses %s', (url) => {
    const check = policy.checkUrl(new URL(url));
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.reason).toMatch(/never allowed/);
  });

  it('refuses a name that resolves to a metadata or link-local address at connect time', () => {
    expect(policy.checkAddress('evil.example', 80, '169.254.169.254').ok).toBe(false);
    expect(policy.checkAddress('evil.example', 80, '100.100.100.200').ok).toBe(false);
    expect(policy.checkAddress('evil.example', 80, 'fe80::2').ok).toBe(false);
    expect(policy.checkAddress('hooks.internal', 80, '10.0.0.7').ok).toBe(true);
    expect(policy.checkAddress('hooks.internal', 80, '127.0.0.1').ok).toBe(true);
  });

  it('lets an allow-list narrow it, never widen it', () => {
    const narrowed = createDestinationPolicy({
      preset: 'internal-network',
      allowed: ['10.0.0.0/8', 'hooks.internal'],
    });
    expect(passes(narrowed, 'http://10.9.8.7/')).toBe(true);
    expect(passes(narrowed, 'http://192.168.1.1/')).toBe(false);
    expect(passes(narrowed, 'http://hooks.internal/')).toBe(true);
    expect(narrowed.checkAddress('other.internal', 80, '192.168.1.1').ok).toBe(false);
    const everything = createDestinationPolicy({ preset: 'internal-network', allowed: ['*'] });
    expect(passes(everything, 'http://169.254.169.254/')).toBe(false);
    expect(passes(everything, 'http://100.100.100.200/')).toBe(false);
    expect(everything.checkAddress('x.example', 80, '169.254.169.254').ok).toBe(false);
    expect(passes(everything, 'http://10.0.0.1/')).toBe(true);
  });

  it('takes explicit class options over the preset', () => {
    const publicOnly = createDestinationPolicy({ preset: 'internal-network', allowedClasses: ['public'] });
    expect(passes(publicOnly, 'http://10.1.2.3/')).toBe(false);
    expect(passes(publicOnly, 'http://localhost/')).toBe(false);
    expect(passes(publicOnly, 'http://8.8.8.8/')).toBe(true);
    const noMetadataCheck = createDestinationPolicy({
      preset: 'internal-network',
      refuseCloudMetadata: false,
    });
    expect(passes(noMetadataCheck, 'http://100.100.100.200/')).toBe(true);
    expect(passes(noMetadataCheck, 'http://169.254.169.254/')).toBe(false); // still link-local
  });
});

describe('public-only preset (the default)', () => {
  it('is what no options give', () => {
    expect(DESTINATION_POLICY_PRESETS['public-only'].allowedClasses).toEqual(['public']);
    const policy = createDestinationPolicy();
    expect(passes(policy, 'http://10.1.2.3/')).toBe(false);
    expect(passes(policy, 'http://localhost/')).toBe(false);
    expect(passes(policy, 'http://8.8.8.8/')).toBe(true);
  });

  it('lets a list entry reach any address, metadata included (the operator decided)', () => {
    const policy = createDestinationPolicy({ allowed: ['169.254.169.254', '10.0.0.0/8'] });
    expect(passes(policy, 'http://169.254.169.254/')).toBe(true);
    expect(passes(policy, 'http://10.1.1.1/')).toBe(true);
    expect(passes(policy, 'http://8.8.8.8/')).toBe(false);
  });
});

describe('options', () => {
  it('names the setting in reasons and errors', () => {
    const policy = createDestinationPolicy({ settingName: 'push.allowed_destinations' });
    const check = policy.checkUrl(new URL('http://10.0.0.1/'));
    expect(check).toEqual({
      ok: false,
      reason: '10.0.0.1 is a private address; add it to push.allowed_destinations to allow it',
    });
    expect(() => createDestinationPolicy({ settingName: 'X_LIST', allowed: ['a b'] })).toThrow(
      'Invalid X_LIST entry "a b"',
    );
  });

  it('refuses an unknown preset with a code', () => {
    expect(thrownCode(() => createDestinationPolicy({ preset: 'lax' as never }))).toBe(
      'DSP_CORE_INVALID_ARGUMENT',
    );
  });

  it('refuses a connector cache bound below 1 with a code', () => {
    expect(thrownCode(() => createSafeConnector(createDestinationPolicy(), { maxCachedConnectors: 0 }))).toBe(
      'DSP_CORE_INVALID_ARGUMENT',
    );
  });
});

describe('isCloudMetadataAddress', () => {
  it.each([
    ['169.254.169.254', true],
    ['::ffff:169.254.169.254', true],
    ['64:ff9b::a9fe:a9fe', true], // NAT64 form of 169.254.169.254
    ['fd00:ec2::254', true],
    ['100.100.100.200', true],
    ['169.254.169.253', false],
    ['10.0.0.1', false],
    ['not an address', false],
  ])('%s → %s', (ip, expected) => {
    expect(isCloudMetadataAddress(ip)).toBe(expected);
  });
});

describe('createSafeConnector with the internal-network preset (real sockets)', () => {
  const target = useReachedServer();
  let port = 0;
  beforeEach(() => {
    port = target.port();
  });

  const internal = createDestinationPolicy({ preset: 'internal-network' });

  it('reaches a loopback subscriber by literal and by name', async () => {
    await expect(fetchVia(internal, `http://127.0.0.1:${port}/`)).resolves.toBe('reached');
    await expect(fetchVia(internal, `http://localhost:${port}/`)).resolves.toBe('reached');
  });

  it('refuses the metadata address with a coded CoreError before connecting', async () => {
    const error = await fetchVia(internal, 'http://169.254.169.254/').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(DispatcherError.hasCode(error, 'DSP_CORE_DESTINATION_NOT_ALLOWED')).toBe(true);
    expect(error).toMatchObject({ hostname: '169.254.169.254', details: { host: '169.254.169.254' } });
  });

  it('refuses a loopback subscriber when a list narrows to another network', async () => {
    const narrowed = createDestinationPolicy({ preset: 'internal-network', allowed: ['10.0.0.0/8'] });
    await expect(fetchVia(narrowed, `http://localhost:${port}/`)).rejects.toMatchObject({
      code: 'DSP_CORE_DESTINATION_NOT_ALLOWED',
    });
  });
});
