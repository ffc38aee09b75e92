// A minimal RADIUS client for tests: Access-Request (what a NAS asks when the CPE connects) and
// Accounting-Request (the Start that puts a session into radacct).
import { createSocket } from 'node:dgram';
import radius from 'radius';
import { readAttributes, type RawAttribute } from '../../services/radius/authenticators.ts';
import { formatPrefix } from '../../services/ipv6.ts';
import { decodeIpv6Prefix, encodeIpv6Prefix } from '../../services/radius/ipv6-prefix.ts';

export interface Answer {
  code: string;
  attributes: RawAttribute[];
  raw: Buffer;
}

/** Sends one packet and returns the first answer carrying the same Identifier. */
export function roundTrip(host: string, port: number, packet: Buffer, timeoutMs = 2000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => (s.close(), reject(new Error(`no answer from ${host}:${port}`))), timeoutMs);
    s.on('error', () => undefined);
    s.on('message', (m) => {
      if (m[1] !== packet[1]) return;
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(packet, port, host);
  });
}

/** PAP Access-Request; the answer's prefix attributes are decoded with our RFC 3162 codec. */
export async function accessRequest(host: string, port: number, secret: string, username: string, password: string): Promise<Answer & { delegated: string[]; framed: string[] }> {
  const packet = radius.encode({
    code: 'Access-Request',
    secret,
    identifier: Math.floor(Math.random() * 256),
    attributes: [
      ['User-Name', username],
      ['User-Password', password],
      ['NAS-IP-Address', '127.0.0.1'],
    ],
  });
  const raw = await roundTrip(host, port, packet);
  if (!radius.verify_response({ request: packet, response: raw, secret })) throw new Error('bad Response Authenticator on Access answer');
  const attributes = readAttributes(raw);
  const prefixes = (type: number) => attributes.filter((a) => a.type === type).map((a) => formatPrefix(decodeIpv6Prefix(a.value)));
  return { code: radius.decode_without_secret({ packet: raw }).code, attributes, raw, delegated: prefixes(123), framed: prefixes(97) };
}

/** Accounting-Request Start, Interim-Update or Stop for one session (RFC 2866), optionally with its Delegated-IPv6-Prefix. */
export async function accounting(
  host: string,
  port: number,
  secret: string,
  a: { status: 'Start' | 'Interim-Update' | 'Stop'; username: string; sessionId: string; nasIp: string; delegatedPrefix?: string },
): Promise<void> {
  const packet = radius.encode({
    code: 'Accounting-Request',
    secret,
    identifier: Math.floor(Math.random() * 256),
    attributes: [
      ['Acct-Status-Type', a.status],
      ['User-Name', a.username],
      ['Acct-Session-Id', a.sessionId],
      ['NAS-IP-Address', a.nasIp],
      ...(a.delegatedPrefix ? [['Delegated-IPv6-Prefix', encodeIpv6Prefix(a.delegatedPrefix)] as [string, Buffer]] : []),
    ],
  });
  const raw = await roundTrip(host, port, packet);
  if (radius.decode_without_secret({ packet: raw }).code !== 'Accounting-Response') throw new Error('expected Accounting-Response');
}
