// Issue 10: knownLifecycles made its Set of live ids after the walk, from every subscriber's entry:
// 200,000 ids in one turn of the event loop. It is built page by page in the walk now. Counted per
// turn: the additions to any Set; the ids must be what they were, a subscriber's last row only.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { countPerTurn } from '../support/event-loop.ts';
import { fillHeld } from '../../bench/scans.ts';
import { KNOWN_PAGE, knownLifecycles } from '../../services/adoption/importer.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore, type ListCursor } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';

const test = suite('stall: the live ids are gathered in the walk');
const HELD = 8 * KNOWN_PAGE + 11;

test(`knownLifecycles over ${HELD} held adds at most a page's ids to a Set in one turn, the same ids as before`, async () => {
  const db = openDatabase(':memory:');
  fillHeld(db, HELD);
  const store = asyncOf(createLifecycleStore(db));
  const pages: Array<Awaited<ReturnType<typeof store.heldPage>>> = [];
  let displaced = '';
  const heldPage = async (state: Parameters<typeof store.heldPage>[0], n: number, after?: ListCursor) => {
    const page = await store.heldPage(state, n, after);
    // A subscriber with two live rows (the store keeps one; a restored database may not): the last counts.
    const dup = page.length > 0 && page.length < n - 1 && displaced === '';
    if (dup) displaced = page[0]!.id;
    const twice = dup ? [...page, { ...page[0]!, id: 'again', prefix: null }] : page;
    pages.push(twice);
    return twice;
  };
  const t = countPerTurn();
  const add = Set.prototype.add;
  Set.prototype.add = function (this: Set<unknown>, v: unknown) {
    t.count();
    return add.call(this, v);
  };
  let known;
  try {
    known = await knownLifecycles({ heldPage });
  } finally {
    Set.prototype.add = add;
    t.stop();
  }
  const turns = t.turns;
  assert.ok(Math.max(...turns) <= 2 * KNOWN_PAGE + 10, `${Math.max(...turns)} Set additions in one turn`);
  const last = new Map(pages.flat().map((r) => [r.subscriber_id, r.id]));
  assert.equal([...known.liveIds!].sort(), [...last.values()].sort());
  assert.ok(known.liveIds!.has('again'));
  assert.is(known.liveIds!.has(displaced), false);
  assert.is(known.liveIds!.size, HELD);
  db.close();
});

test.run();
