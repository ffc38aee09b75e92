import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { desiredReply, DELEGATED_IPV6_PREFIX as D, FRAMED_IPV6_PREFIX as F } from '../../../services/radius/reply-attributes.ts';

function rejected(fn: () => unknown): ServiceError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.instance(caught, ServiceError);
  assert.is((caught as ServiceError).code, 'validation_error');
  return caught as ServiceError;
}

test('desiredReply() writes both prefixes in RFC 5952 form', () => {
  const reply = desiredReply({ username: 'u', delegatedPrefix: '2001:DB8:0100::/56', framedPrefix: '2001:db8:ffff:0001::/64' }, 'given');
  assert.equal([...reply], [[D, '2001:db8:100::/56'], [F, '2001:db8:ffff:1::/64']]);
});

test("desiredReply(.., 'first64') carves the WAN /64 from the delegated prefix", () => {
  const reply = desiredReply({ username: 'u', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null }, 'first64');
  assert.is(reply.get(F), '2001:db8:100::/64');
  assert.is(rejected(() => desiredReply({ username: 'u', delegatedPrefix: '2001:db8::/64', framedPrefix: null }, 'first64')).field, 'delegatedPrefix');
});

test('desiredReply() names the field of a malformed prefix', () => {
  for (const bad of ['2001:db8:100::1/56', 'not-a-prefix', '2001:db8::/129']) {
    assert.is(rejected(() => desiredReply({ username: 'u', delegatedPrefix: bad, framedPrefix: null }, 'given')).field, 'delegatedPrefix', bad);
    assert.is(rejected(() => desiredReply({ username: 'u', delegatedPrefix: '2001:db8::/56', framedPrefix: bad }, 'given')).field, 'framedPrefix', bad);
  }
  assert.match(rejected(() => desiredReply({ username: 'u', delegatedPrefix: '2001:db8:100::1/56', framedPrefix: null }, 'none')).message, /host bits/);
});

test.run();
