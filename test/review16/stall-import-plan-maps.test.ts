// Issue 10: planSteps filled its two starting maps (observations by prefix, subscriber by username)
// in one go before its first turn: 50,000 observations in one turn of the loop. They count into
// PLAN_SLICE now. Counted per turn: the reads of an observation's prefix, which only that fill makes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { countPerTurn } from '../support/event-loop.ts';
import { plan, planInTurns, PLAN_SLICE, type KnownLifecycles } from '../../services/adoption/plan.ts';
import { fromFile, type Observation } from '../../services/adoption/sources.ts';
import { formatPrefix, nthSubnet } from '../../services/ipv6.ts';

const test = suite('stall: the plan fills its maps a slice per turn');
const POOL = { name: 'p', prefix: '2001:db8::/40', prefix_length: 56, ipam: 'embedded' as const };
const N = 4 * PLAN_SLICE + 3;
const known: KnownLifecycles = { liveOf: () => undefined, liveWithPrefix: () => undefined, liveWithUsername: () => undefined };

// Mixed: two records of one prefix, a username carried twice, a RADIUS row naming only a username.
const observations = (): Observation[] => [
  ...fromFile(
    Array.from({ length: N }, (_, i) => ({
      subscriber_id: `s-${i}`,
      prefix: formatPrefix(nthSubnet(POOL.prefix, 56, i % 500 === 0 ? 1 : i)),
      username: `u-${i % 3000}`,
    })),
  ),
  { source: 'radreply', prefix: formatPrefix(nthSubnet(POOL.prefix, 56, 7)), subscriberId: null, username: 'u-7', cpeId: null, state: null, netboxPrefixId: null, markedFor: null },
];

test(`planInTurns over ${N} observations reads at most PLAN_SLICE of their prefixes in one turn, and plans as plan() does`, async () => {
  const t = countPerTurn();
  const counted = observations().map((o) => {
    const { prefix } = o;
    return Object.defineProperty({ ...o }, 'prefix', { enumerable: true, get: () => (t.count(), prefix) });
  });
  const entries = await planInTurns({ observations: counted, pools: [POOL], known, radiusRead: false, subscriberFromUsername: false });
  t.stop();
  const turns = t.turns;
  assert.is(turns.reduce((n, t) => n + t, 0), N + 1);
  assert.ok(Math.max(...turns) <= PLAN_SLICE, `${Math.max(...turns)} prefixes read in one turn`);
  assert.equal(entries, plan({ observations: observations(), pools: [POOL], known, radiusRead: false, subscriberFromUsername: false }));
  assert.ok(entries.some((e) => e.conflicts.some((c) => c.kind === 'shared_prefix')));
  assert.ok(entries.some((e) => e.conflicts.some((c) => c.kind === 'username_in_use')));
});

test.run();
