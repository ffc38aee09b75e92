import { createHash, createHmac } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import radius from 'radius';
import { readAttributes, signRequest, signResponse, verifyRequest, verifyResponse } from '../../../services/radius/authenticators.ts';

const SECRET = 'testing123';
const attrs = (): [string, string | Buffer][] => [
  ['User-Name', 'alice'],
  ['Acct-Session-Id', 'sess-1'],
  ['NAS-IP-Address', '127.0.0.1'],
  ['Message-Authenticator', Buffer.alloc(16)],
];
const encode = (code = 'Disconnect-Request') =>
  radius.encode({ code, identifier: 7, secret: SECRET, attributes: attrs(), add_message_authenticator: false });
const maOffset = (p: Buffer) => {
  let off = 20;
  while (p[off] !== 80) off += p[off + 1]!;
  return off + 2;
};

const test = suite('Message-Authenticator and authenticators (RFC 5176 §3.4, RFC 3579 §3.2)');

test('signRequest computes the HMAC first (zero authenticator, zero MA), then the Request Authenticator over the packet with MA', () => {
  const signed = signRequest(encode(), SECRET);
  const off = maOffset(signed);

  // Step by step from RFC 5176 §3.4, independently of signRequest.
  const work = Buffer.from(signed);
  work.fill(0, 4, 20);
  work.fill(0, off, off + 16);
  const ma = createHmac('md5', SECRET).update(work).digest();
  assert.equal(signed.subarray(off, off + 16), ma, 'Message-Authenticator');
  ma.copy(work, off);
  const auth = createHash('md5').update(work).update(SECRET).digest();
  assert.equal(signed.subarray(4, 20), auth, 'Request Authenticator');
});

test('the radius package alone gets the order wrong: its request fails verifyRequest, ours passes', () => {
  const theirs = radius.encode({ code: 'Disconnect-Request', identifier: 7, secret: SECRET, attributes: attrs().slice(0, 3), add_message_authenticator: true });
  assert.is(verifyRequest(theirs, SECRET), false);
  assert.is(verifyRequest(signRequest(encode(), SECRET), SECRET), true);
  assert.is(verifyRequest(signRequest(encode('CoA-Request'), SECRET), SECRET), true);
});

test('verifyRequest rejects a wrong secret and a flipped bit', () => {
  const signed = signRequest(encode(), SECRET);
  assert.is(verifyRequest(signed, 'wrong'), false);
  const flipped = Buffer.from(signed);
  flipped[23]! ^= 1;
  assert.is(verifyRequest(flipped, SECRET), false);
});

test('without Message-Authenticator signRequest matches what the package computes (MD5 over zero authenticator + secret)', () => {
  const plain = radius.encode({ code: 'Disconnect-Request', identifier: 9, secret: SECRET, attributes: attrs().slice(0, 3), add_message_authenticator: false });
  const ours = signRequest(Buffer.from(plain), SECRET);
  assert.equal(ours, plain);
});

test('verifyResponse checks the Response Authenticator against the request', () => {
  const request = signRequest(encode(), SECRET);
  const ack = Buffer.from([41, 7, 0, 20, ...new Array(16).fill(0)]);
  signResponse(ack, request, SECRET);
  assert.is(verifyResponse(ack, request, SECRET), true);
  assert.is(verifyResponse(ack, request, 'wrong'), false);
  const otherId = Buffer.from(ack);
  otherId[1] = 8;
  assert.is(verifyResponse(otherId, request, SECRET), false);
  const otherRequest = signRequest(encode('CoA-Request'), SECRET);
  assert.is(verifyResponse(ack, otherRequest, SECRET), false);
});

test('verifyResponse checks a response Message-Authenticator too', () => {
  const request = signRequest(encode(), SECRET);
  const nak = radius.encode({
    code: 'Disconnect-NAK',
    identifier: 7,
    secret: SECRET,
    attributes: [['Error-Cause', 503], ['Message-Authenticator', Buffer.alloc(16)]],
    add_message_authenticator: false,
  });
  signResponse(nak, request, SECRET);
  assert.is(verifyResponse(nak, request, SECRET), true);
  // Re-sign the authenticator over a damaged MA: only the MA check can catch it.
  const off = maOffset(nak);
  nak[off]! ^= 0xff;
  request.copy(nak, 4, 4, 20);
  createHash('md5').update(nak).update(SECRET).digest().copy(nak, 4);
  assert.is(verifyResponse(nak, request, SECRET), false);
});

test('readAttributes splits attributes and rejects malformed packets', () => {
  const p = signRequest(encode(), SECRET);
  assert.equal(readAttributes(p).map((a) => a.type), [1, 44, 4, 80]);
  assert.is(readAttributes(p)[0]!.value.toString(), 'alice');
  const broken = Buffer.from(p);
  broken[21] = 1;
  assert.throws(() => readAttributes(broken), /malformed attribute/);
  assert.throws(() => readAttributes(p.subarray(0, 10)), /shorter/);
  const longer = Buffer.from(p);
  longer.writeUInt16BE(p.length + 5, 2);
  assert.throws(() => readAttributes(longer), /length/);
});

test.run();
