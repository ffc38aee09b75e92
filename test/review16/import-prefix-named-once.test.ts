// A file prefix the plan cannot read was named as `${prefix} is not an IPv6 prefix: ${why}`, and
// parsePrefix's why quotes the text already: `2001:db9:0:1a01::/56 is not an IPv6 prefix:
// "2001:db9:0:1a01::/56" has host bits set beyond /56; …`. The conflict is now parsePrefix's message,
// the prefix in it once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { plan, type KnownLifecycles } from '../../services/adoption/plan.ts';
import { fromFile } from '../../services/adoption/sources.ts';

const POOLS = [{ name: 'pd', prefix: '2001:db8::/32', prefix_length: 56, ipam: 'embedded' as const }];
const NONE: KnownLifecycles = { liveOf: () => undefined, liveWithPrefix: () => undefined, liveWithUsername: () => undefined };
const occurrences = (text: string, part: string) => text.split(part).length - 1;

test('a malformed file prefix is an outside_pools conflict naming the prefix once, in parsePrefix\'s words', () => {
  const cases: Array<[string, string]> = [
    ['2001:db9:0:1a01::/56', '"2001:db9:0:1a01::/56" has host bits set beyond /56; did you mean 2001:db9:0:1a00::/56?'],
    ['2001:db8:0:zz00::/56', '"2001:db8:0:zz00::/56" is not an IPv6 prefix: "2001:db8:0:zz00::" is not an IPv6 address'],
    ['2001:db8:0:4200::/129', '"2001:db8:0:4200::/129" is not an IPv6 prefix: the length must be an integer from 0 to 128'],
    ['2001:db8:0:4300::', '"2001:db8:0:4300::" is not an IPv6 prefix: expected address/length'],
  ];
  const entries = plan({
    observations: fromFile(cases.map(([prefix], i) => ({ subscriber_id: `C-${i}`, prefix }))),
    pools: POOLS,
    known: NONE,
    radiusRead: false,
    subscriberFromUsername: false,
  });
  for (const [prefix, message] of cases) {
    const e = entries.find((x) => x.prefix === prefix)!;
    assert.equal([e.action, e.conflicts], ['conflict', [{ kind: 'outside_pools', message }]], prefix);
    assert.is(occurrences(e.conflicts[0]!.message, prefix), 1, e.conflicts[0]!.message);
  }
});

test.run();
