import { ServiceError } from './errors.ts';

/** An IPv6 prefix as numbers: `network` has no bits set beyond `length`. */
export interface Ipv6Prefix {
  readonly network: bigint;
  readonly length: number;
}

/** A prefix in either form; helpers parse strings with `parsePrefix`. */
export type PrefixLike = Ipv6Prefix | string;

export const ADDRESS_BITS = 128;
const ALL_ONES = (1n << 128n) - 1n;

function invalid(message: string, field: string): ServiceError {
  return new ServiceError('validation_error', message, { field });
}

function checkLength(length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > ADDRESS_BITS) {
    throw new RangeError(`prefix length must be an integer between 0 and 128, got ${length}`);
  }
}

function parseDottedQuad(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes = parts.map((p) => (/^(0|[1-9]\d{0,2})$/.test(p) ? Number(p) : 256));
  if (bytes.some((b) => b > 255)) return null;
  const [a, b, c, d] = bytes as [number, number, number, number];
  return [(a << 8) | b, (c << 8) | d];
}

function parseGroups(text: string, quadAllowed: boolean): number[] | null {
  if (text === '') return [];
  const groups: number[] = [];
  const parts = text.split(':');
  for (const [i, part] of parts.entries()) {
    // RFC 4291 §2.2 (3): an IPv4 dotted quad may stand for the last two groups.
    if (quadAllowed && i === parts.length - 1 && part.includes('.')) {
      const quad = parseDottedQuad(part);
      if (!quad) return null;
      groups.push(...quad);
    } else if (/^[0-9a-f]{1,4}$/i.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return null;
    }
  }
  return groups;
}

/** Parses an IPv6 address in any RFC 4291 text form into a 128-bit number. */
export function parseAddress(text: string, field = 'address'): bigint {
  const halves = text.split('::');
  if (halves.length > 2) throw invalid(`"${text}" is not an IPv6 address: "::" may appear only once`, field);
  const head = parseGroups(halves[0] ?? '', halves.length === 1);
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? '', true) : [];
  if (!head || !tail) {
    throw invalid(`"${text}" is not an IPv6 address`, field);
  }
  const present = head.length + tail.length;
  // "::" stands for one or more zero groups (RFC 4291 §2.2 (2)), so 8 explicit groups leave no room for it.
  if (halves.length === 2 ? present > 7 : present !== 8) {
    throw invalid(`"${text}" is not an IPv6 address: it must have 8 groups`, field);
  }
  const groups = [...head, ...new Array<number>(8 - present).fill(0), ...tail];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Formats a 128-bit number in RFC 5952 canonical form: lowercase, longest zero run as "::" (first on a tie, never a single group). */
// RFC 5952 §5's mixed notation for IPv4-mapped addresses is left out: delegated prefixes never are.
export function formatAddress(value: bigint): string {
  if (value < 0n || value > ALL_ONES) throw new RangeError(`${value} is not a 128-bit address`);
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1; // RFC 5952 §4.2.2: a single 0 group is never shortened.
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    // Strictly longer only, so the first run wins a tie (RFC 5952 §4.2.3).
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Parses `address/length`; rejects malformed text and host bits set beyond the length. */
export function parsePrefix(text: string, field = 'prefix'): Ipv6Prefix {
  if (typeof text !== 'string') throw invalid('prefix must be a string', field);
  const slash = text.indexOf('/');
  if (slash < 0) throw invalid(`"${text}" is not an IPv6 prefix: expected address/length`, field);
  const lengthText = text.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(lengthText) || Number(lengthText) > ADDRESS_BITS) {
    throw invalid(`"${text}" is not an IPv6 prefix: the length must be an integer from 0 to 128`, field);
  }
  const length = Number(lengthText);
  let address: bigint;
  try {
    address = parseAddress(text.slice(0, slash), field);
  } catch (err) {
    throw invalid(`"${text}" is not an IPv6 prefix: ${(err as Error).message}`, field);
  }
  const network = networkOf(address, length);
  if (network !== address) {
    throw invalid(
      `"${text}" has host bits set beyond /${length}; did you mean ${formatPrefix({ network, length })}?`,
      field,
    );
  }
  return { network, length };
}

/** Formats a prefix in canonical compressed form, e.g. `2001:db8:100::/56`. */
export function formatPrefix(prefix: Ipv6Prefix): string {
  return `${formatAddress(prefix.network)}/${prefix.length}`;
}

/** Re-writes prefix text in canonical compressed form (throws `validation_error` on bad input). */
export function canonicalPrefix(text: string, field = 'prefix'): string {
  return formatPrefix(parsePrefix(text, field));
}

function toPrefix(p: PrefixLike): Ipv6Prefix {
  return typeof p === 'string' ? parsePrefix(p) : p;
}

/** Number of addresses in a block of `length`: 2^(128 - length). */
export function blockSize(length: number): bigint {
  checkLength(length);
  return 1n << BigInt(ADDRESS_BITS - length);
}

/** The address with every bit beyond `length` cleared. */
export function networkOf(address: bigint, length: number): bigint {
  return address & ~(blockSize(length) - 1n);
}

/** Whether `address` starts a block of `length`. */
export function isAligned(address: bigint, length: number): boolean {
  return (address & (blockSize(length) - 1n)) === 0n;
}

/** The lowest address ≥ `address` that starts a block of `length` (may be 2^128 past the end). */
export function alignUp(address: bigint, length: number): bigint {
  const size = blockSize(length);
  return ((address + size - 1n) / size) * size;
}

/** The last address inside the prefix. */
export function lastAddress(prefix: PrefixLike): bigint {
  const p = toPrefix(prefix);
  return p.network + blockSize(p.length) - 1n;
}

/** Whether `inner` lies entirely inside `outer` (a prefix contains itself). */
export function contains(outer: PrefixLike, inner: PrefixLike): boolean {
  const o = toPrefix(outer);
  const i = toPrefix(inner);
  return i.length >= o.length && networkOf(i.network, o.length) === o.network;
}

/** Whether two prefixes share any address (aligned blocks either nest or are disjoint). */
export function overlaps(a: PrefixLike, b: PrefixLike): boolean {
  return contains(a, b) || contains(b, a);
}

/** How many prefixes of `length` the parent holds. */
export function subnetCount(parent: PrefixLike, length: number): bigint {
  const p = toPrefix(parent);
  checkLength(length);
  if (length < p.length) return 0n;
  return 1n << BigInt(length - p.length);
}

/** The `n`-th (from 0) prefix of `length` inside `parent`, in address order. */
export function nthSubnet(parent: PrefixLike, length: number, n: bigint | number): Ipv6Prefix {
  const p = toPrefix(parent);
  const index = BigInt(n);
  const count = subnetCount(p, length);
  if (index < 0n || index >= count) {
    throw new RangeError(`${formatPrefix(p)} has ${count} subnets of /${length}; index ${index} is out of range`);
  }
  return { network: p.network + index * blockSize(length), length };
}

/** The first /64 of a prefix: the WAN link's Framed-IPv6-Prefix is carved from the delegated block. */
export function firstSlash64(prefix: PrefixLike): Ipv6Prefix {
  const p = toPrefix(prefix);
  if (p.length > 64) throw new RangeError(`${formatPrefix(p)} is longer than /64 and holds no /64`);
  return { network: p.network, length: 64 };
}

/** 32 lowercase hex digits, so that text order is numeric order (2^128 gets a 33rd digit). */
export function toHex(value: bigint): string {
  return value.toString(16).padStart(32, '0');
}

/** Inverse of `toHex`. */
export function fromHex(hex: string): bigint {
  return BigInt(`0x${hex}`);
}
