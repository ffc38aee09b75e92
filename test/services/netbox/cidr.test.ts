import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatPrefix, parsePrefix } from '../../../services/ipv6.ts';
import { blocksUsed, canonicalCidr, parseCidr } from '../../../services/netbox/cidr.ts';

test('parseCidr() reads prefix text as NetBox does: space trimmed, host bits cleared', () => {
  assert.equal(parseCidr(' 2001:db8::/32 '), parsePrefix('2001:db8::/32'));
  assert.is(formatPrefix(parseCidr('2001:db8:0:180::1/56')!), '2001:db8:0:100::/56');
  assert.is(canonicalCidr('2001:0DB8:0100::/056'), '2001:db8:100::/56');
  assert.is(canonicalCidr('::ffff:192.0.2.0/120'), '::ffff:c000:200/120');
});

test('parseCidr() and canonicalCidr() return null for anything that is not a prefix', () => {
  for (const bad of [undefined, null, 42, '', '2001:db8::', '2001:db8::/129', '2001:db8::/x', '1::2::3/64', '192.0.2.0/24', '/32']) {
    assert.is(parseCidr(bad), null, String(bad));
    assert.is(canonicalCidr(bad), null, String(bad));
  }
});

test('blocksUsed() counts the /56 blocks children touch, once each', () => {
  const parent = parsePrefix('2001:db8::/48');
  const children = ['2001:db8::/56', '2001:db8:0:100::/64', '2001:db8:0:100::/60', '2001:db8:0:400::/54', '2001:db9::/56'].map((p) => parsePrefix(p));
  // /56 #0, #1 (twice, by a /64 and a /60), #4..#7 (one /54); the /56 outside the parent does not count.
  assert.is(blocksUsed(parent, 56, children), 6n);
  assert.is(blocksUsed(parent, 56, [parent]), 256n);
  assert.is(blocksUsed(parent, 56, []), 0n);
});

test.run();
