// A scriptable Dynamic Authorization Server for unit tests: it checks each request as a NAS
// would, records the exact bytes, and answers (or not) as the test says.
import { createSocket, type Socket } from 'node:dgram';
import { readAttributes, signResponse, verifyRequest, type RawAttribute } from '../../services/radius/authenticators.ts';

export interface Received {
  raw: Buffer;
  code: number;
  identifier: number;
  attributes: RawAttribute[];
  /** Request Authenticator and Message-Authenticator both check out with the NAS's secret. */
  valid: boolean;
}

/** What to do with the n-th request (0-based): drop it, or answer with a code and attributes. */
export type Behaviour = (req: Received, n: number) => 'drop' | { code: number; errorCause?: number; corrupt?: boolean };

export interface StandInNas {
  host: string;
  port: number;
  received: Received[];
  behave: Behaviour;
  close(): Promise<void>;
}

/** Starts a stand-in NAS on a free loopback port (`::1` for `udp6`; `address` another loopback, 127.0.0.3 say, for a second NAS). */
export async function startStandInNas(secret: string, family: 'udp4' | 'udp6' = 'udp4', address?: string): Promise<StandInNas> {
  const host = address ?? (family === 'udp4' ? '127.0.0.1' : '::1');
  const socket: Socket = createSocket(family);
  const nas: StandInNas = {
    host,
    port: 0,
    received: [],
    behave: (req) => ({ code: req.code + 1 }),
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
  socket.on('message', (raw, rinfo) => {
    const req: Received = { raw: Buffer.from(raw), code: raw[0]!, identifier: raw[1]!, attributes: readAttributes(raw), valid: verifyRequest(raw, secret) };
    nas.received.push(req);
    // A real NAS silently drops what it cannot authenticate (RFC 5176 §3.4).
    if (!req.valid) return;
    const what = nas.behave(req, nas.received.length - 1);
    if (what === 'drop') return;
    const attrs = what.errorCause === undefined ? [] : [101, 6, ...u32(what.errorCause)];
    const res = Buffer.from([what.code, req.identifier, 0, 20 + attrs.length, ...new Array(16).fill(0), ...attrs]);
    signResponse(res, raw, secret);
    if (what.corrupt) res[5]! ^= 0xff;
    socket.send(res, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, host, () => r()));
  nas.port = socket.address().port;
  return nas;
}

function u32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}
