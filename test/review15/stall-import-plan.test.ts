// Issue 10: the plan of 50,000 records was one synchronous piece of ~1 s, every observation joined,
// checked and looked up in one turn of the event loop. planInTurns works through PLAN_SLICE items a
// turn; its plan is plan()'s. Counted per turn: the lookups of the live lifecycles each item makes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { countPerTurn } from '../support/event-loop.ts';
import { plan, planInTurns, PLAN_SLICE, type KnownLifecycles } from '../../services/adoption/plan.ts';
import { fromFile } from '../../services/adoption/sources.ts';
import { formatPrefix, nthSubnet } from '../../services/ipv6.ts';

const test = suite('stall: the plan gives the event loop back');
const POOL = { name: 'p', prefix: '2001:db8::/40', prefix_length: 56, ipam: 'embedded' as const };
const N = 3 * PLAN_SLICE + 7;

test(`planInTurns over ${N} records looks up at most PLAN_SLICE per turn, and plans as plan() does`, async () => {
  const records = Array.from({ length: N }, (_, i) => ({
    subscriber_id: i % 97 === 0 ? 'twice' : `s-${i}`,
    prefix: formatPrefix(nthSubnet(POOL.prefix, 56, i)),
    username: `u-${i % 1000}@isp`,
    state: 'active' as const,
  }));
  const t = countPerTurn();
  const counted = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => (t.count(), f(...a));
  const known: KnownLifecycles = {
    liveOf: counted((s: string) => (s === 's-5' ? { id: 'L5', prefix: '2001:db8:0:500::/56' } : undefined)),
    liveWithPrefix: counted(() => undefined),
    liveOverlapping: counted(() => undefined),
    liveWithUsername: counted((u: string) => (u === 'u-3@isp' ? { id: 'L3', subscriber_id: 'other' } : undefined)),
  };
  const input = { observations: fromFile(records), pools: [POOL], known, radiusRead: false, subscriberFromUsername: false };
  const entries = await planInTurns(input);
  t.stop();
  const turns = t.turns;
  const lookups = turns.reduce((n, t) => n + t, 0);
  // Each entry: liveWithPrefix and liveOverlapping; each subscriber: liveOf; each username: liveWithUsername.
  assert.ok(lookups > 3 * N, `${lookups} lookups`);
  assert.ok(Math.max(...turns) <= 2 * PLAN_SLICE, `at most ${Math.max(...turns)} lookups in one turn of ${turns.length}`);
  assert.ok(turns.filter((t) => t > 0).length >= 4, `lookups spread over ${turns.filter((t) => t > 0).length} turns`);
  assert.equal(entries, plan({ ...input, known: { liveOf: known.liveOf, liveWithPrefix: known.liveWithPrefix, liveOverlapping: known.liveOverlapping, liveWithUsername: known.liveWithUsername } }));
  assert.is(entries.length, N);
  assert.ok(entries.some((e) => e.conflicts.some((c) => c.kind === 'two_prefixes')));
  assert.ok(entries.some((e) => e.conflicts.some((c) => c.kind === 'username_in_use')));
});

test.run();
