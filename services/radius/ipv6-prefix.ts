// IPv6 text <-> bytes, and the RFC 3162 §2.3 `ipv6prefix` attribute value that the `radius`
// package cannot encode (it only passes Buffers through for that type).
import { isIP } from 'node:net';

/** An IPv6 prefix: 16 address octets with every bit past `length` zero. */
export interface Ipv6Prefix {
  address: Buffer;
  length: number;
}

/** `full` sends all 16 prefix octets (what FreeRADIUS 3.2 sends); `truncated` only ceil(length/8). */
export type PrefixForm = 'full' | 'truncated';

/** Parses an IPv6 address (RFC 4291 §2.2 text forms, including a trailing dotted IPv4) into 16 octets. */
export function parseIpv6Address(text: string): Buffer {
  const fail = (): never => {
    throw new RangeError(`invalid IPv6 address: ${JSON.stringify(text)}`);
  };
  if (text.length === 0 || text.length > 45 || text.includes('%')) fail();
  const halves = text.split('::');
  if (halves.length > 2) fail();
  const groups = (part: string, last: boolean): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    pieces.forEach((piece, i) => {
      if (last && i === pieces.length - 1 && piece.includes('.')) {
        const [a, b, c, d] = parseIpv4(piece) ?? fail();
        out.push((a! << 8) | b!, (c! << 8) | d!);
        return;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) fail();
      out.push(parseInt(piece, 16));
    });
    return out;
  };
  const head = groups(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1]!, true) : [];
  const total = head.length + tail.length;
  // RFC 4291: "::" stands for one or more groups of zeros, so a full 8 groups cannot carry one.
  if (halves.length === 2 ? total > 7 : total !== 8) fail();
  const all = [...head, ...new Array<number>(8 - total).fill(0), ...tail];
  const bytes = Buffer.alloc(16);
  all.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  return bytes;
}

/** Formats 16 octets in the RFC 5952 canonical form (lower case, longest zero run as `::`). */
export function formatIpv6Address(bytes: Buffer): string {
  if (bytes.length !== 16) throw new RangeError(`an IPv6 address has 16 octets, not ${bytes.length}`);
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    // RFC 5952 §4.2.2: a single zero group is not compressed; §4.2.3: the first longest run wins.
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** The canonical text of an IPv4 or IPv6 address, so `radacct` and configuration compare equal. */
export function canonicalIpAddress(text: string): string {
  const trimmed = text.trim();
  if (isIP(trimmed) === 6) return formatIpv6Address(parseIpv6Address(trimmed));
  if (isIP(trimmed) === 4) return trimmed;
  throw new RangeError(`invalid IP address: ${JSON.stringify(text)}`);
}

/** Parses `addr/len`; rejects host bits set past the length (RFC 3162 §2.3 requires them zero). */
export function parseIpv6Prefix(text: string): Ipv6Prefix {
  const slash = text.indexOf('/');
  if (slash < 0 || !/^\d{1,3}$/.test(text.slice(slash + 1))) {
    throw new RangeError(`invalid IPv6 prefix: ${JSON.stringify(text)}`);
  }
  const length = Number(text.slice(slash + 1));
  if (length > 128) throw new RangeError(`invalid IPv6 prefix length: ${JSON.stringify(text)}`);
  const address = parseIpv6Address(text.slice(0, slash));
  if (!hostBitsZero(address, length)) throw new RangeError(`IPv6 prefix has bits set past /${length}: ${JSON.stringify(text)}`);
  return { address, length };
}

/** Formats a prefix canonically, e.g. `2001:db8:100::/56`. */
export function formatIpv6Prefix(prefix: Ipv6Prefix): string {
  return `${formatIpv6Address(prefix.address)}/${prefix.length}`;
}

/** The canonical text of a prefix given in any valid text form. */
export function canonicalIpv6Prefix(text: string): string {
  return formatIpv6Prefix(parseIpv6Prefix(text));
}

/** The first subnet of `length` inside `prefix` (e.g. the first /64 of a /56). */
export function firstSubnet(prefix: Ipv6Prefix, length: number): Ipv6Prefix {
  if (length < prefix.length || length > 128) throw new RangeError(`/${length} does not fit inside /${prefix.length}`);
  return { address: Buffer.from(prefix.address), length };
}

/** Encodes an `ipv6prefix` attribute value: Reserved(0) | Prefix-Length | Prefix (RFC 3162 §2.3). */
export function encodeIpv6Prefix(prefix: Ipv6Prefix | string, form: PrefixForm = 'full'): Buffer {
  const p = typeof prefix === 'string' ? parseIpv6Prefix(prefix) : prefix;
  const octets = form === 'full' ? 16 : Math.ceil(p.length / 8);
  const value = Buffer.alloc(2 + octets);
  value[1] = p.length;
  p.address.copy(value, 2, 0, octets);
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
  const address = Buffer.alloc(16);
  value.copy(address, 0, 2);
  if (!hostBitsZero(address, length)) throw new RangeError(`ipv6prefix has bits set past /${length}`);
  return { address, length };
}

function hostBitsZero(address: Buffer, length: number): boolean {
  for (let bit = length; bit < 128; bit++) {
    if ((address[bit >> 3]! >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

function parseIpv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return null;
    out.push(Number(part));
  }
  return out;
}
