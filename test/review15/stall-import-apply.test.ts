// Issue 10: no job holds the event loop more than 50 ms. A POST /import of 50,000 records into a
// service holding 200,000 lifecycles held the loop 55 s in one piece (17.9 s of CPU): the walk of
// the live lifecycles answered at once page after page, and every batch of the apply (IPAM adoption,
// the IMPORT transition, the commit) ran without a turn of the loop between; so did the question
// to IPAM per record of what adopt() would refuse (REFUSAL_SLICE a turn now). Counted per turn.
// Since review 18 the live lifecycles are not walked at all: what the records name is looked up,
// KNOWN_BATCH values a statement and a turn.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { perTurn } from '../support/event-loop.ts';
import { fillHeld, SCAN_POOL } from '../../bench/scans.ts';
import { ADOPT_SLICE } from '../../services/adoption/apply.ts';
import { KNOWN_BATCH, REFUSAL_SLICE, runImport } from '../../services/adoption/importer.ts';
import { formatPrefix, nthSubnet } from '../../services/ipv6.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';

const test = suite('stall: an import gives the event loop back');
const HELD = 6000;
const RECORDS = 1500;

test('an applied import of 1500 records over 6000 held reads, asks IPAM about and adopts a slice per turn of the event loop', async () => {
  const db = openDatabase(':memory:');
  const embedded = fillHeld(db, HELD);
  const store = asyncOf(createLifecycleStore(db));
  // What each turn of the loop did: rows walked, values looked up in the store, blocks IPAM was asked
  // about (nesting with a record's, or what adopt() would refuse), prefixes adopted.
  const t = perTurn(() => ({ walked: 0, looked: 0, nesting: 0, asked: 0, adopted: 0 }));
  const turns = t.turns;
  const heldPage: typeof store.heldPage = async (...a) => {
    const page = await store.heldPage(...a);
    t.now().walked += page.length;
    return page;
  };
  const holdersOf: typeof store.holdersOf = async (by, values) => ((t.now().looked += values.length), store.holdersOf(by, values));
  const ipam = {
    ...embedded,
    nestedHeld: ((...a) => (t.now().nesting++, embedded.nestedHeld!(...a))) as typeof embedded.nestedHeld,
    adoptionRefusal: ((...a) => (t.now().asked++, embedded.adoptionRefusal!(...a))) as typeof embedded.adoptionRefusal,
    adopt: ((...a) => (t.now().adopted++, embedded.adopt(...a))) as typeof embedded.adopt,
  };
  const records = Array.from({ length: RECORDS }, (_, i) => ({
    subscriber_id: `imp-${i}`,
    prefix: formatPrefix(nthSubnet(SCAN_POOL.prefix, SCAN_POOL.prefixLength, HELD + 100 + i)),
    username: `imp-${i}@isp.example`,
    state: 'active' as const,
  }));
  const report = await runImport(
    { sources: { file: { records } }, dryRun: false },
    { pools: [{ name: SCAN_POOL.name, prefix: SCAN_POOL.prefix, prefix_length: SCAN_POOL.prefixLength, ipam: 'embedded' }], store: { ...store, heldPage, holdersOf }, ipam, netbox: null, radius: null },
  );
  t.stop();
  assert.equal(report.applied, { adopted: RECORDS, failed: [] });
  const sum = (k: keyof (typeof turns)[number]) => turns.reduce((n, t) => n + t[k], 0);
  const most = (k: keyof (typeof turns)[number]) => Math.max(...turns.map((t) => t[k]));
  assert.is(sum('walked'), 0, 'no walk of the live lifecycles');
  // Each record's subscriber, prefix and username: what the import names, not what the store holds.
  assert.is(sum('looked'), 3 * RECORDS);
  assert.ok(most('looked') <= KNOWN_BATCH, `at most ${most('looked')} values looked up in one turn`);
  assert.is(sum('nesting'), RECORDS);
  assert.ok(most('nesting') <= KNOWN_BATCH, `at most ${most('nesting')} nesting blocks asked about in one turn`);
  assert.is(turns.reduce((n, t) => n + t.asked, 0), RECORDS);
  assert.ok(Math.max(...turns.map((t) => t.asked)) <= REFUSAL_SLICE, `at most ${Math.max(...turns.map((t) => t.asked))} prefixes asked about in one turn`);
  assert.ok(Math.max(...turns.map((t) => t.adopted)) <= ADOPT_SLICE, `at most ${Math.max(...turns.map((t) => t.adopted))} prefixes adopted in one turn`);
  assert.is((db.prepare("SELECT count(*) AS n FROM lifecycles WHERE subscriber_id LIKE 'imp-%'").get() as { n: number }).n, RECORDS);
  db.close();
});

test.run();
