/**
 * Well-known cloud metadata endpoints. They hand out instance credentials, so a server that makes requests
 * on others' behalf must never reach them, even where it may reach private networks.
 */
import { embeddedIpv4, type ParsedIp, parseIp } from './classify-address.js';

/**
 * Metadata service addresses: AWS, GCP, Azure, Oracle, DigitalOcean and OpenStack (169.254.169.254), AWS
 * ECS and EKS (169.254.170.2, 169.254.170.23), Tencent (169.254.0.23), Alibaba (100.100.100.200), Oracle's
 * legacy 192.0.0.192, and AWS's IPv6 endpoints (fd00:ec2::254, fd00:ec2::23).
 */
export const CLOUD_METADATA_ADDRESSES: readonly string[] = Object.freeze([
  '169.254.169.254',
  '169.254.170.2',
  '169.254.170.23',
  '169.254.0.23',
  '100.100.100.200',
  '192.0.0.192',
  'fd00:ec2::254',
  'fd00:ec2::23',
]);

/** Host names that resolve to a metadata service inside the cloud (refused by name, before any lookup). */
export const CLOUD_METADATA_HOST_NAMES: readonly string[] = Object.freeze([
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
]);

const PARSED = CLOUD_METADATA_ADDRESSES.map((text) => parseIp(text) as ParsedIp);

/** Whether a parsed address is a metadata endpoint, also when reached through NAT64 or 6to4. */
export function isCloudMetadataParsed(parsed: ParsedIp): boolean {
  const ip = embeddedIpv4(parsed);
  return PARSED.some((entry) => entry.family === ip.family && entry.value === ip.value);
}

/**
 * Whether `ip` is one of {@link CLOUD_METADATA_ADDRESSES} (IPv4-mapped, NAT64 and 6to4 forms included).
 * Not an IP literal: false.
 */
export function isCloudMetadataAddress(ip: string): boolean {
  const parsed = parseIp(ip);
  return parsed !== undefined && isCloudMetadataParsed(parsed);
}
