// How this client reads the prefix text NetBox and the configuration give it, and how it counts a
// pool's blocks the way NetBox sees them; IPv6 text and arithmetic themselves live in ../ipv6.ts.
import { ADDRESS_BITS, contains, formatPrefix, lastAddress, networkOf, parseAddress, type Ipv6Prefix } from '../ipv6.ts';

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

/**
 * How many aligned blocks of `blockLength` inside `parent` the `children` touch. A child longer than
 * a block still spoils the whole block for delegation, so it counts as one.
 */
export function blocksUsed(parent: Ipv6Prefix, blockLength: number, children: Ipv6Prefix[]): bigint {
  const shift = BigInt(ADDRESS_BITS - blockLength);
  const ranges = children
    .filter((c) => contains(parent, c))
    .map((c) => {
      const first = c.network >> shift;
      return [first, c.length >= blockLength ? first + 1n : (lastAddress(c) >> shift) + 1n] as const;
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let total = 0n;
  let reach = -1n;
  for (const [start, stop] of ranges) {
    const from = start > reach ? start : reach;
    if (stop > from) total += stop - from;
    if (stop > reach) reach = stop;
  }
  return total;
}
