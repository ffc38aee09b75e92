import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import {
  alignUp,
  blockSize,
  canonicalPrefix,
  contains,
  firstSlash64,
  formatAddress,
  formatPrefix,
  fromHex,
  isAligned,
  lastAddress,
  nthSubnet,
  overlaps,
  parseAddress,
  parsePrefix,
  subnetCount,
  toHex,
} from '../../services/ipv6.ts';

const canonical = (text: string): string => formatAddress(parseAddress(text));

function rejected(fn: () => unknown, pattern: RegExp): ServiceError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ServiceError);
    assert.is((err as ServiceError).code, 'validation_error');
    assert.match((err as ServiceError).message, pattern);
    return err as ServiceError;
  }
  assert.unreachable('expected a validation_error');
  throw new Error('unreachable');
}

const text = suite('ipv6 text forms');

text('formatAddress() follows the RFC 5952 §4 examples', () => {
  assert.is(canonical('2001:0db8::0001'), '2001:db8::1'); // §4.1 leading zeros
  assert.is(canonical('2001:db8:0:0:0:0:2:1'), '2001:db8::2:1'); // §4.2.1 as much as possible
  assert.is(canonical('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1'); // §4.2.2 not one group
  assert.is(canonical('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1'); // §4.2.3 the longest run
  assert.is(canonical('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1'); // §4.2.3 the first on a tie
  assert.is(canonical('2001:DB8::AbCd'), '2001:db8::abcd'); // §4.3 lowercase
});

text('formatAddress() handles all-zero, all-ones and the edges', () => {
  assert.is(canonical('0:0:0:0:0:0:0:0'), '::');
  assert.is(canonical('::1'), '::1');
  assert.is(canonical('1::'), '1::');
  assert.is(canonical('1:0:0:0:0:0:0:0'), '1::');
  assert.is(canonical('0:0:0:0:0:0:0:1'), '::1');
  assert.is(canonical('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
  assert.is(canonical('1:0:1:0:1:0:1:0'), '1:0:1:0:1:0:1:0');
  assert.is(canonical('0:1:0:0:1:0:0:0'), '0:1:0:0:1::');
  assert.is(canonical('fe80:0:0:0:0:0:0:0'), 'fe80::');
  assert.is(canonical('::ffff:192.0.2.1'), '::ffff:c000:201'); // no RFC 5952 §5 mixed notation
  assert.throws(() => formatAddress(1n << 128n), RangeError);
  assert.throws(() => formatAddress(-1n), RangeError);
});

text('parseAddress() reads every group and an embedded IPv4 tail', () => {
  assert.is(parseAddress('::'), 0n);
  assert.is(parseAddress('::1'), 1n);
  assert.is(parseAddress('1:2:3:4:5:6:7:8'), 0x0001_0002_0003_0004_0005_0006_0007_0008n);
  assert.is(parseAddress('::ffff:192.0.2.1'), 0xffff_c000_0201n);
});

text('parseAddress() rejects malformed text with a message', () => {
  rejected(() => parseAddress('1::2::3'), /"::" may appear only once/);
  rejected(() => parseAddress('1:2:3:4:5:6:7'), /8 groups/);
  rejected(() => parseAddress('1:2:3:4:5:6:7:8:9'), /8 groups/);
  rejected(() => parseAddress('1:2:3:4:5:6:7::8'), /8 groups/);
  for (const bad of ['', ':::', '1:', ':1', '12345::', 'g::', '1.2.3.4::', '::1.2.3', '::01.2.3.4', '::256.0.0.1', ' ::1', 'fe80::1%eth0']) {
    rejected(() => parseAddress(bad), /is not an IPv6 address/);
  }
});

text('parsePrefix() reads the length and rejects host bits beyond it', () => {
  assert.equal(parsePrefix('2001:db8::/32'), { network: 0x2001_0db8n << 96n, length: 32 });
  assert.equal(parsePrefix('::/0'), { network: 0n, length: 0 });
  assert.equal(parsePrefix('::1/128'), { network: 1n, length: 128 });
  rejected(() => parsePrefix('2001:db8::1/32'), /host bits set beyond \/32; did you mean 2001:db8::\/32\?/);
  rejected(() => parsePrefix('2001:db8:0:180::/56'), /did you mean 2001:db8:0:100::\/56/);
  rejected(() => parsePrefix('::1/127'), /host bits/);
});

text('parsePrefix() rejects a missing or malformed length, and names the field', () => {
  for (const bad of ['2001:db8::/129', '2001:db8::/', '2001:db8::/-1', '2001:db8::/056', '2001:db8::/3a', '2001:db8::/ 32']) {
    rejected(() => parsePrefix(bad), /the length must be an integer from 0 to 128/);
  }
  rejected(() => parsePrefix('2001:db8::'), /expected address\/length/);
  rejected(() => parsePrefix('/32'), /"\/32" is not an IPv6 prefix/);
  assert.is(rejected(() => parsePrefix('nope/8', 'pool.prefix'), /not an IPv6 prefix/).field, 'pool.prefix');
  assert.is(rejected(() => parsePrefix('2001:db8::/32x'), /length/).field, 'prefix');
});

text('canonicalPrefix() rewrites prefix text in RFC 5952 form', () => {
  assert.is(canonicalPrefix('2001:0DB8:0000:0100:0000:0000:0000:0000/56'), '2001:db8:0:100::/56');
  assert.is(canonicalPrefix('0::0/0'), '::/0');
  assert.is(canonicalPrefix('0:0:0:0:0:0:0:1/128'), '::1/128');
});

text.run();

const math = suite('ipv6 arithmetic');

math('blockSize(), lastAddress() and subnetCount() at the edges', () => {
  assert.is(blockSize(0), 1n << 128n);
  assert.is(blockSize(128), 1n);
  assert.is(lastAddress('::/0'), (1n << 128n) - 1n);
  assert.is(lastAddress('::1/128'), 1n);
  assert.is(formatAddress(lastAddress('2001:db8::/32')), '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff');
  assert.is(subnetCount('2001:db8::/32', 56), 1n << 24n);
  assert.is(subnetCount('::/0', 128), 1n << 128n);
  assert.is(subnetCount('2001:db8::/48', 32), 0n);
  assert.throws(() => blockSize(129), RangeError);
  assert.throws(() => blockSize(1.5), RangeError);
});

math('nthSubnet() walks 2001:db8::/32 in /56 steps', () => {
  assert.is(formatPrefix(nthSubnet('2001:db8::/32', 56, 0)), '2001:db8::/56');
  assert.is(formatPrefix(nthSubnet('2001:db8::/32', 56, 1)), '2001:db8:0:100::/56');
  assert.is(formatPrefix(nthSubnet('2001:db8::/32', 56, 256)), '2001:db8:1::/56');
  assert.is(formatPrefix(nthSubnet('2001:db8::/32', 56, 2 ** 24 - 1)), '2001:db8:ffff:ff00::/56');
  assert.is(formatPrefix(nthSubnet('::/0', 128, (1n << 128n) - 1n)), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128');
  assert.is(formatPrefix(nthSubnet('2001:db8::/32', 32, 0)), '2001:db8::/32');
  assert.throws(() => nthSubnet('2001:db8::/32', 56, 2 ** 24), RangeError);
  assert.throws(() => nthSubnet('2001:db8::/32', 56, -1), RangeError);
  assert.throws(() => nthSubnet('2001:db8::/48', 32, 0), RangeError);
});

math('contains() and overlaps() compare nested and disjoint blocks', () => {
  assert.ok(contains('2001:db8::/32', '2001:db8:ffff:ff00::/56'));
  assert.ok(contains('2001:db8::/32', '2001:db8::/32'));
  assert.ok(contains('::/0', '::1/128'));
  assert.not.ok(contains('2001:db8::/32', '2001:db9::/56'));
  assert.not.ok(contains('2001:db8::/56', '2001:db8::/48'));
  assert.ok(overlaps('2001:db8::/56', '2001:db8::/48'));
  assert.ok(overlaps('2001:db8:0:100::/64', '2001:db8:0:100::/56'));
  assert.not.ok(overlaps('2001:db8::/56', '2001:db8:0:100::/56'));
});

math('isAligned() and alignUp() round to block boundaries', () => {
  const base = parsePrefix('2001:db8::/32').network;
  assert.ok(isAligned(base, 32));
  assert.not.ok(isAligned(base + 1n, 64));
  assert.is(alignUp(base + 1n, 56), base + blockSize(56));
  assert.is(alignUp(base, 56), base);
  assert.is(alignUp((1n << 128n) - 1n, 64), 1n << 128n);
  assert.ok(isAligned(0n, 0));
});

math('firstSlash64() takes the first /64 of a delegated prefix', () => {
  assert.is(formatPrefix(firstSlash64('2001:db8:100::/56')), '2001:db8:100::/64');
  assert.is(formatPrefix(firstSlash64('2001:db8:0:ab00::/56')), '2001:db8:0:ab00::/64');
  assert.is(formatPrefix(firstSlash64('2001:db8::/32')), '2001:db8::/64');
  assert.is(formatPrefix(firstSlash64('2001:db8:0:1::/64')), '2001:db8:0:1::/64');
  assert.throws(() => firstSlash64('2001:db8::/72'), RangeError);
});

math('toHex() keeps text order equal to numeric order', () => {
  const values = [0n, 1n, 0xfn, 0x10n, 1n << 64n, (1n << 128n) - 1n];
  const hex = values.map(toHex);
  assert.ok(hex.every((h) => h.length === 32));
  assert.equal([...hex].sort(), hex);
  assert.equal(hex.map(fromHex), values);
});

math.run();
