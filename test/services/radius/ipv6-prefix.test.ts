import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { formatPrefix, parsePrefix } from '../../../services/ipv6.ts';
import { canonicalIpAddress, decodeIpv6Prefix, encodeIpv6Address, encodeIpv6Prefix } from '../../../services/radius/ipv6-prefix.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const codec = suite('ipv6prefix codec (RFC 3162 §2.3)');

codec('encodeIpv6Prefix(2001:db8:100::/56) is the full-length form FreeRADIUS 3.2 sends', () => {
  assert.equal(encodeIpv6Prefix('2001:db8:100::/56').toString('hex'), '003820010db8010000000000000000000000');
  assert.equal(encodeIpv6Prefix('2001:db8:100::/56', 'full'), hex('0038 20010db8 0100 0000 0000 0000 0000 0000'));
});

codec('encodeIpv6Prefix(.., truncated) carries ceil(len/8) octets', () => {
  assert.equal(encodeIpv6Prefix('2001:db8:100::/56', 'truncated'), hex('0038 20010db8 0100 00'));
  assert.equal(encodeIpv6Prefix('2001:db8:ffff:1::/64', 'truncated'), hex('0040 20010db8 ffff 0001'));
  assert.equal(encodeIpv6Prefix('2001:db8::/29', 'truncated'), hex('001d 20010db8'));
  assert.equal(encodeIpv6Prefix('::/0', 'truncated'), hex('0000'));
});

codec('decodeIpv6Prefix accepts the full-length form', () => {
  assert.is(formatPrefix(decodeIpv6Prefix(hex('0038 20010db8 0100 0000 0000 0000 0000 0000'))), '2001:db8:100::/56');
  // The Framed-IPv6-Prefix a decoded FreeRADIUS Access-Accept carried (contracts README).
  assert.is(formatPrefix(decodeIpv6Prefix(hex('0040 20010db8 ffff 0001 0000 0000 0000 0000'))), '2001:db8:ffff:1::/64');
});

codec('decodeIpv6Prefix accepts the truncated form and anything in between', () => {
  assert.is(formatPrefix(decodeIpv6Prefix(hex('0038 20010db8 0100 00'))), '2001:db8:100::/56');
  assert.is(formatPrefix(decodeIpv6Prefix(hex('0038 20010db8 0100 0000 00'))), '2001:db8:100::/56');
  assert.is(formatPrefix(decodeIpv6Prefix(hex('0000'))), '::/0');
  assert.is(formatPrefix(decodeIpv6Prefix(hex('0080 20010db8000000000000000000000001'))), '2001:db8::1/128');
});

codec('decode(encode(p)) round-trips in both forms', () => {
  for (const p of ['2001:db8:100::/56', '2001:db8:abcd:ef00::/56', '2001:db8::/48', 'fd00::/8', '2001:db8::1/128', '::/0']) {
    assert.is(formatPrefix(decodeIpv6Prefix(encodeIpv6Prefix(p, 'full'))), p);
    assert.is(formatPrefix(decodeIpv6Prefix(encodeIpv6Prefix(p, 'truncated'))), p);
  }
});

codec('decodeIpv6Prefix rejects values RFC 3162 forbids', () => {
  assert.throws(() => decodeIpv6Prefix(hex('00')), /2\.\.18/);
  assert.throws(() => decodeIpv6Prefix(Buffer.alloc(19)), /2\.\.18/);
  assert.throws(() => decodeIpv6Prefix(hex('0081 20010db8000000000000000000000001')), /exceeds 128/);
  assert.throws(() => decodeIpv6Prefix(hex('0038 20010db8')), /needs 7 octets/);
  assert.throws(() => decodeIpv6Prefix(hex('0020 20010db8 0100')), /bits set past \/32/);
});

codec('encodeIpv6Prefix(text) rejects host bits and bad lengths with validation_error', () => {
  const invalid = (pattern: RegExp) => (err: unknown) => err instanceof ServiceError && err.code === 'validation_error' && pattern.test(err.message);
  assert.throws(() => encodeIpv6Prefix('2001:db8:100::1/56'), invalid(/host bits set beyond \/56/));
  assert.throws(() => encodeIpv6Prefix('2001:db8::/129'), invalid(/length/));
  assert.throws(() => encodeIpv6Prefix('2001:db8::'), invalid(/expected address\/length/));
});

codec('encodeIpv6Prefix takes a parsed prefix as well as text', () => {
  assert.equal(encodeIpv6Prefix(parsePrefix('2001:db8:100::/56'), 'truncated'), hex('0038 20010db8 0100 00'));
});

codec('encodeIpv6Address gives the 16 octets NAS-IPv6-Address carries (RFC 3162 §2.1)', () => {
  assert.equal(encodeIpv6Address('2001:db8::1'), hex('20010db8 00000000 00000000 00000001'));
  assert.equal(encodeIpv6Address('::ffff:192.0.2.1'), hex('00000000 00000000 0000ffff c0000201'));
  assert.equal(encodeIpv6Address((1n << 128n) - 1n), Buffer.alloc(16, 0xff));
  assert.equal(encodeIpv6Address(0n), Buffer.alloc(16));
});

codec.run();

const nas = suite('NAS address text');

nas('canonicalIpAddress makes radacct and configuration compare equal', () => {
  assert.is(canonicalIpAddress('2001:DB8::0:1'), '2001:db8::1');
  assert.is(canonicalIpAddress('::ffff:192.0.2.1'), '::ffff:c000:201');
  assert.is(canonicalIpAddress(' 192.0.2.1 '), '192.0.2.1');
});

nas('canonicalIpAddress throws RangeError for anything that is not an address', () => {
  for (const bad of ['', 'nas-1', 'fe80::1%eth0', '1::2::3', '192.0.2.256']) assert.throws(() => canonicalIpAddress(bad), RangeError, bad);
});

nas.run();
