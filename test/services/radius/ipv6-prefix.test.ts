import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  canonicalIpAddress,
  canonicalIpv6Prefix,
  decodeIpv6Prefix,
  encodeIpv6Prefix,
  firstSubnet,
  formatIpv6Address,
  formatIpv6Prefix,
  parseIpv6Address,
  parseIpv6Prefix,
} from '../../../services/radius/ipv6-prefix.ts';

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
  assert.is(formatIpv6Prefix(decodeIpv6Prefix(hex('0038 20010db8 0100 0000 0000 0000 0000 0000'))), '2001:db8:100::/56');
  // The Framed-IPv6-Prefix a decoded FreeRADIUS Access-Accept carried (contracts README).
  assert.is(formatIpv6Prefix(decodeIpv6Prefix(hex('0040 20010db8 ffff 0001 0000 0000 0000 0000'))), '2001:db8:ffff:1::/64');
});

codec('decodeIpv6Prefix accepts the truncated form and anything in between', () => {
  assert.is(formatIpv6Prefix(decodeIpv6Prefix(hex('0038 20010db8 0100 00'))), '2001:db8:100::/56');
  assert.is(formatIpv6Prefix(decodeIpv6Prefix(hex('0038 20010db8 0100 0000 00'))), '2001:db8:100::/56');
  assert.is(formatIpv6Prefix(decodeIpv6Prefix(hex('0000'))), '::/0');
  assert.is(formatIpv6Prefix(decodeIpv6Prefix(hex('0080 20010db8000000000000000000000001'))), '2001:db8::1/128');
});

codec('decode(encode(p)) round-trips in both forms', () => {
  for (const p of ['2001:db8:100::/56', '2001:db8:abcd:ef00::/56', '2001:db8::/48', 'fd00::/8', '2001:db8::1/128', '::/0']) {
    assert.is(formatIpv6Prefix(decodeIpv6Prefix(encodeIpv6Prefix(p, 'full'))), p);
    assert.is(formatIpv6Prefix(decodeIpv6Prefix(encodeIpv6Prefix(p, 'truncated'))), p);
  }
});

codec('decodeIpv6Prefix rejects values RFC 3162 forbids', () => {
  assert.throws(() => decodeIpv6Prefix(hex('00')), /2\.\.18/);
  assert.throws(() => decodeIpv6Prefix(Buffer.alloc(19)), /2\.\.18/);
  assert.throws(() => decodeIpv6Prefix(hex('0081 20010db8000000000000000000000001')), /exceeds 128/);
  assert.throws(() => decodeIpv6Prefix(hex('0038 20010db8')), /needs 7 octets/);
  assert.throws(() => decodeIpv6Prefix(hex('0020 20010db8 0100')), /bits set past \/32/);
});

codec('encodeIpv6Prefix rejects host bits and bad lengths', () => {
  assert.throws(() => encodeIpv6Prefix('2001:db8:100::1/56'), /bits set past/);
  assert.throws(() => encodeIpv6Prefix('2001:db8::/129'), /length/);
  assert.throws(() => encodeIpv6Prefix('2001:db8::'), /invalid IPv6 prefix/);
});

codec.run();

const text = suite('IPv6 text forms (RFC 4291 §2.2, RFC 5952)');

text('formatIpv6Address(parseIpv6Address(x)) is canonical', () => {
  const cases: [string, string][] = [
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
  ];
  for (const [input, want] of cases) assert.is(formatIpv6Address(parseIpv6Address(input)), want, input);
});

text('parseIpv6Address rejects malformed text', () => {
  for (const bad of ['', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::', 'fe80::1%eth0', '1.2.3.4::', '::1.2.3', '1:2:3:4:5:6:7::8']) {
    assert.throws(() => parseIpv6Address(bad), /invalid IPv6 address/, bad);
  }
});

text('parseIpv6Prefix / canonicalIpv6Prefix', () => {
  assert.is(canonicalIpv6Prefix('2001:DB8:0100:0000::/56'), '2001:db8:100::/56');
  assert.is(parseIpv6Prefix('2001:db8::/32').length, 32);
  assert.throws(() => parseIpv6Prefix('2001:db8::/x'));
});

text('firstSubnet takes the first /64 of a /56', () => {
  assert.is(formatIpv6Prefix(firstSubnet(parseIpv6Prefix('2001:db8:100::/56'), 64)), '2001:db8:100::/64');
  assert.throws(() => firstSubnet(parseIpv6Prefix('2001:db8:100::/56'), 48));
});

text('canonicalIpAddress makes radacct and configuration compare equal', () => {
  assert.is(canonicalIpAddress('2001:DB8::0:1'), '2001:db8::1');
  assert.is(canonicalIpAddress(' 192.0.2.1 '), '192.0.2.1');
  assert.throws(() => canonicalIpAddress(''));
  assert.throws(() => canonicalIpAddress('nas-1'));
});

text.run();
