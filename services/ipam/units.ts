import { ADDRESS_BITS, contains, lastAddress, type Ipv6Prefix } from '../ipv6.ts';

/**
 * How many aligned blocks of `blockLength` inside `parent` the `children` touch: utilization in
 * units of the pool's delegated length. A /48 in a /56 pool is 256; a child longer than a block
 * still spoils the whole block for delegation, so it counts as one. Overlapping children count once.
 */
export function blocksUsed(parent: Ipv6Prefix, blockLength: number, children: Iterable<Ipv6Prefix>): bigint {
  const shift = BigInt(ADDRESS_BITS - blockLength);
  const ranges = [...children]
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
