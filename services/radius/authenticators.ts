// Request/Response Authenticators and Message-Authenticator for CoA and Disconnect packets.
// The `radius` package computes a request's Message-Authenticator *after* its Request
// Authenticator, so FreeRADIUS drops the packet (../shared/contracts/radius/README.md); these
// functions do it in the order RFC 5176 §3.4 prescribes and never trust the package to verify.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const MESSAGE_AUTHENTICATOR = 80;
const HEADER = 20;
const AUTH_START = 4;
const AUTH_END = 20;

/** One attribute as it sits in a packet. */
export interface RawAttribute {
  type: number;
  value: Buffer;
}

/** Splits a packet's attributes; throws RangeError on a malformed packet (RFC 2865 §3, §5). */
export function readAttributes(packet: Buffer): RawAttribute[] {
  const length = packetLength(packet);
  const out: RawAttribute[] = [];
  for (let off = HEADER; off < length; ) {
    const attrLength = packet[off + 1];
    if (attrLength === undefined || attrLength < 2 || off + attrLength > length) {
      throw new RangeError(`malformed attribute at offset ${off}`);
    }
    out.push({ type: packet[off]!, value: packet.subarray(off + 2, off + attrLength) });
    off += attrLength;
  }
  return out;
}

/**
 * Signs a CoA-Request or Disconnect-Request in place and returns it. If it carries a
 * Message-Authenticator, that is computed first over the packet with a zero Request
 * Authenticator (RFC 5176 §3.4); the Request Authenticator is then MD5 over the packet with a
 * zero authenticator field, followed by the secret (RFC 5176 §2.3, as RFC 2866 §3).
 */
export function signRequest(packet: Buffer, secret: string): Buffer {
  packet.fill(0, AUTH_START, AUTH_END);
  return sign(packet, secret);
}

/** Checks a request as a NAS would: Request Authenticator, and the Message-Authenticator if present. */
export function verifyRequest(packet: Buffer, secret: string): boolean {
  const copy = Buffer.from(packet.subarray(0, packetLength(packet)));
  const gotAuth = Buffer.from(copy.subarray(AUTH_START, AUTH_END));
  copy.fill(0, AUTH_START, AUTH_END);
  return verifySigned(copy, gotAuth, secret);
}

/**
 * Checks an ACK/NAK against the request it answers: the Response Authenticator is
 * MD5(Code|Id|Length|Request Authenticator|Attributes|Secret) (RFC 5176 §3.5); a
 * Message-Authenticator, when present, is HMAC-MD5 with the Request Authenticator in the
 * authenticator field and itself zeroed (RFC 3579 §3.2).
 */
export function verifyResponse(response: Buffer, request: Buffer, secret: string): boolean {
  if (response[1] !== request[1]) return false;
  const copy = Buffer.from(response.subarray(0, packetLength(response)));
  const gotAuth = Buffer.from(copy.subarray(AUTH_START, AUTH_END));
  request.copy(copy, AUTH_START, AUTH_START, AUTH_END);
  return verifySigned(copy, gotAuth, secret);
}

/**
 * `copy` holds the packet with its authenticator field as the signer filled it before signing
 * (zeros for a request, the request's authenticator for a response): checks the authenticator it
 * carried, then the Message-Authenticator, computed over the same bytes with itself zeroed.
 */
function verifySigned(copy: Buffer, gotAuth: Buffer, secret: string): boolean {
  const expectedAuth = createHash('md5').update(copy).update(secret).digest();
  if (!timingSafeEqual(gotAuth, expectedAuth)) return false;
  const ma = maValueOffset(copy);
  if (ma < 0) return true;
  const gotMa = Buffer.from(copy.subarray(ma, ma + 16));
  copy.fill(0, ma, ma + 16);
  return timingSafeEqual(gotMa, hmac(copy, secret));
}

/** Signs a response to `request` the way a NAS does (for test stand-ins; RFC 5176 §3.5). */
export function signResponse(response: Buffer, request: Buffer, secret: string): Buffer {
  request.copy(response, AUTH_START, AUTH_START, AUTH_END);
  return sign(response, secret);
}

/**
 * `packet` holds in its authenticator field what the signer hashes (zeros for a request, the
 * request's authenticator for a response): fills in the Message-Authenticator, if the packet
 * carries one, then the authenticator over the packet and the secret. `verifySigned` checks the same.
 */
function sign(packet: Buffer, secret: string): Buffer {
  const ma = maValueOffset(packet);
  if (ma >= 0) {
    packet.fill(0, ma, ma + 16);
    hmac(packet, secret).copy(packet, ma);
  }
  createHash('md5').update(packet.subarray(0, packetLength(packet))).update(secret).digest().copy(packet, AUTH_START);
  return packet;
}

function packetLength(packet: Buffer): number {
  if (packet.length < HEADER) throw new RangeError(`RADIUS packet shorter than ${HEADER} octets`);
  const length = packet.readUInt16BE(2);
  // RFC 2865 §3: octets past Length are padding and ignored; fewer than Length is malformed.
  if (length < HEADER || length > 4096 || length > packet.length) throw new RangeError(`bad RADIUS packet length ${length}`);
  return length;
}

function maValueOffset(packet: Buffer): number {
  const length = packetLength(packet);
  for (let off = HEADER; off + 2 <= length; off += packet[off + 1]!) {
    if (packet[off + 1]! < 2 || off + packet[off + 1]! > length) throw new RangeError(`malformed attribute at offset ${off}`);
    if (packet[off] === MESSAGE_AUTHENTICATOR) {
      if (packet[off + 1] !== 18) throw new RangeError('Message-Authenticator must be 18 octets long');
      return off + 2;
    }
  }
  return -1;
}

function hmac(packet: Buffer, secret: string): Buffer {
  return createHmac('md5', secret).update(packet.subarray(0, packetLength(packet))).digest();
}
