// A file record is typed by an operator: `2001:db8:12:3601::/56` (host bits set past /56) was
// silently adopted as 2001:db8:12:3600::/56, a prefix the file never named, while the plan's own
// check (parsePrefix) refuses such text. The plan now names it as a conflict, with the network it
// may have meant, and adopts nothing for it (docs/adoption.md, "outside_pools").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { plan, type KnownLifecycles } from '../../services/adoption/plan.ts';
import { fromFile } from '../../services/adoption/sources.ts';

const POOLS = [{ name: 'pd', prefix: '2001:db8::/32', prefix_length: 56, ipam: 'embedded' as const }];
const NONE: KnownLifecycles = { liveOf: () => undefined, liveWithPrefix: () => undefined, liveWithUsername: () => undefined };

test('a file prefix with host bits set is a conflict naming it as written, never adopted as its network', () => {
  const entries = plan({
    observations: fromFile([
      { subscriber_id: 'C-4', prefix: '2001:db8:12:3601::/56' },
      { subscriber_id: 'C-5', prefix: '2001:DB8:12:3700:0::/56' },
    ]),
    pools: POOLS,
    known: NONE,
    radiusRead: false,
    subscriberFromUsername: false,
  });
  const c4 = entries.find((e) => e.subscriber_id === 'C-4')!;
  assert.is(c4.prefix, '2001:db8:12:3601::/56');
  assert.is(c4.action, 'conflict');
  assert.equal(c4.conflicts.map((c) => c.kind), ['outside_pools']);
  assert.match(c4.conflicts[0]!.message, /host bits set beyond \/56; did you mean 2001:db8:12:3600::\/56\?/);
  // Only the text's spelling is made canonical: the same network, written otherwise, is adopted.
  const c5 = entries.find((e) => e.subscriber_id === 'C-5')!;
  assert.equal([c5.prefix, c5.action], ['2001:db8:12:3700::/56', 'adopt']);
});

test.run();
