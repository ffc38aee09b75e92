/** An IPv6 prefix as numbers: the network address and the mask length. */
export interface Cidr {
  network: bigint;
  length: number;
}

const ALL = (1n << 128n) - 1n;

/** Parses an IPv6 address; null when it is not one. */
export function parseAddress(text: string): bigint | null {
  let host: string;
  try {
    // WHATWG URL validates IPv6 (including embedded IPv4) and always serializes pure hex pieces.
    host = new URL(`http://[${text.trim()}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
  const [head = '', tail] = host.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const pieces = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return pieces.reduce((acc, piece) => (acc << 16n) | BigInt(parseInt(piece, 16)), 0n);
}

/** Formats an address in RFC 5952 canonical form. */
export function formatAddress(value: bigint): string {
  const pieces: string[] = [];
  for (let i = 7; i >= 0; i--) pieces.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return new URL(`http://[${pieces.join(':')}]/`).hostname.slice(1, -1);
}

/** Parses `addr/len`; host bits are cleared, as NetBox does for prefixes. Null when malformed. */
export function parseCidr(text: unknown): Cidr | null {
  if (typeof text !== 'string') return null;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) return null;
  const length = Number(m[2]);
  const address = parseAddress(m[1] ?? '');
  if (address === null || length > 128) return null;
  return { network: address & mask(length), length };
}

/** Canonical compressed form, e.g. `2001:db8:100::/56`. */
export function formatCidr(c: Cidr): string {
  return `${formatAddress(c.network)}/${c.length}`;
}

/** Canonicalizes a prefix string; null when malformed. */
export function canonicalCidr(text: unknown): string | null {
  const c = parseCidr(text);
  return c ? formatCidr(c) : null;
}

export function mask(length: number): bigint {
  return length === 0 ? 0n : (ALL << BigInt(128 - length)) & ALL;
}

/** First address after the prefix (exclusive end). */
export function end(c: Cidr): bigint {
  return c.network + (1n << BigInt(128 - c.length));
}

/** True when `inner` lies inside `outer`; `strict` excludes the prefix itself (NetBox's `within`). */
export function contains(outer: Cidr, inner: Cidr, strict = false): boolean {
  if (inner.length < outer.length || (strict && inner.length === outer.length)) return false;
  return (inner.network & mask(outer.length)) === outer.network;
}

/**
 * How many aligned blocks of `blockLength` inside `parent` the `children` touch. A child longer than
 * a block still spoils the whole block for delegation, so it counts as one.
 */
export function blocksUsed(parent: Cidr, blockLength: number, children: Cidr[]): bigint {
  const shift = BigInt(128 - blockLength);
  const ranges = children
    .filter((c) => contains(parent, c))
    .map((c) => {
      const first = c.network >> shift;
      return [first, c.length >= blockLength ? first + 1n : (end(c) - 1n >> shift) + 1n] as const;
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

/** Number of blocks of `blockLength` a prefix of `parentLength` holds. */
export function capacity(parentLength: number, blockLength: number): bigint {
  return blockLength < parentLength ? 0n : 1n << BigInt(blockLength - parentLength);
}
