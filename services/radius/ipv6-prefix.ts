// The RFC 3162 attribute values the `radius` package cannot encode (it only passes Buffers through
// for them), and the NAS address text that radacct and the configuration compare. IPv6 text and
// prefix arithmetic live in ../ipv6.ts.
import { isIP } from 'node:net';
import { formatAddress, isAligned, parseAddress, parsePrefix, type Ipv6Prefix, type PrefixLike } from '../ipv6.ts';

/** `full` sends all 16 prefix octets (what FreeRADIUS 3.2 sends); `truncated` only ceil(length/8). */
export type PrefixForm = 'full' | 'truncated';

const LOW_64 = (1n << 64n) - 1n;

/** The 16 octets of an address, as NAS-IPv6-Address carries it (RFC 3162 §2.1). */
export function encodeIpv6Address(address: bigint | string): Buffer {
  const value = typeof address === 'string' ? parseAddress(address) : address;
  const octets = Buffer.alloc(16);
  octets.writeBigUInt64BE(value >> 64n, 0);
  octets.writeBigUInt64BE(value & LOW_64, 8);
  return octets;
}

/** The canonical text of an IPv4 or IPv6 address, so `radacct` and configuration compare equal; RangeError otherwise. */
export function canonicalIpAddress(text: string): string {
  const trimmed = text.trim();
  if (isIP(trimmed) === 4) return trimmed;
  // isIP accepts a zone index (`fe80::1%eth0`), which names no address a NAS could be reached at.
  if (isIP(trimmed) === 6 && !trimmed.includes('%')) return formatAddress(parseAddress(trimmed));
  throw new RangeError(`invalid IP address: ${JSON.stringify(text)}`);
}

/** Encodes an `ipv6prefix` attribute value: Reserved(0) | Prefix-Length | Prefix (RFC 3162 §2.3). */
export function encodeIpv6Prefix(prefix: PrefixLike, form: PrefixForm = 'full'): Buffer {
  const p = typeof prefix === 'string' ? parsePrefix(prefix) : prefix;
  const octets = form === 'full' ? 16 : Math.ceil(p.length / 8);
  const value = Buffer.alloc(2 + octets);
  value[1] = p.length;
  encodeIpv6Address(p.network).copy(value, 2, 0, octets);
  return value;
}

/** Decodes an `ipv6prefix` attribute value in the full-length or the truncated form. */
export function decodeIpv6Prefix(value: Buffer): Ipv6Prefix {
  // Attribute Length is 4..20 (RFC 3162 §2.3), so the value is 2..18 octets.
  if (value.length < 2 || value.length > 18) throw new RangeError(`ipv6prefix value must be 2..18 octets, got ${value.length}`);
  const length = value[1]!;
  if (length > 128) throw new RangeError(`ipv6prefix length ${length} exceeds 128`);
  const carried = value.length - 2;
  if (carried < Math.ceil(length / 8)) throw new RangeError(`ipv6prefix /${length} needs ${Math.ceil(length / 8)} octets, got ${carried}`);
  const octets = Buffer.alloc(16);
  value.copy(octets, 0, 2);
  const network = (octets.readBigUInt64BE(0) << 64n) | octets.readBigUInt64BE(8);
  // RFC 3162 §2.3: bits past the prefix length are reserved and must be zero.
  if (!isAligned(network, length)) throw new RangeError(`ipv6prefix has bits set past /${length}`);
  return { network, length };
}
