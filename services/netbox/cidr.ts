// How this client reads the prefix text NetBox and the configuration give it, and how it counts a
// pool's blocks the way NetBox sees them; IPv6 text and arithmetic themselves live in ../ipv6.ts.
import { ADDRESS_BITS, formatPrefix, networkOf, parseAddress, type Ipv6Prefix } from '../ipv6.ts';

/** Parses `addr/len` leniently: surrounding space is ignored and host bits are cleared, as NetBox does for prefixes. Null when malformed. */
export function parseCidr(text: unknown): Ipv6Prefix | null {
  if (typeof text !== 'string') return null;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) return null;
  const length = Number(m[2]);
  if (length > ADDRESS_BITS) return null;
  let address: bigint;
  try {
    address = parseAddress(m[1] ?? '');
  } catch {
    return null;
  }
  return { network: networkOf(address, length), length };
}

/** Canonicalizes a prefix string; null when malformed. */
export function canonicalCidr(text: unknown): string | null {
  const c = parseCidr(text);
  return c ? formatPrefix(c) : null;
}

/** Counting a pool's blocks is shared with the embedded IPAM. */
export { blocksUsed } from '../ipam/units.ts';
