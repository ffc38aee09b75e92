// Issue 10: no job holds the event loop more than 50 ms. A POST /import of 50,000 records into a
// service holding 200,000 lifecycles held the loop 55 s in one piece (17.9 s of CPU): the walk of
// the live lifecycles answered at once page after page, and every batch of the apply (IPAM adoption,
// the IMPORT transition, the commit) ran without a turn of the loop between; so did the question
// to IPAM per record of what adopt() would refuse (REFUSAL_SLICE a turn now). Counted per turn.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { perTurn } from '../support/event-loop.ts';
import { fillHeld, SCAN_POOL } from '../../bench/scans.ts';
import { ADOPT_SLICE } from '../../services/adoption/apply.ts';
import { KNOWN_PAGE, REFUSAL_SLICE, runImport } from '../../services/adoption/importer.ts';
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
  // What each turn of the loop did: rows of the live walk read, prefixes IPAM was asked about, prefixes adopted.
  const t = perTurn(() => ({ read: 0, asked: 0, adopted: 0 }));
  const turns = t.turns;
  const heldPage: typeof store.heldPage = async (...a) => {
    const page = await store.heldPage(...a);
    t.now().read += page.length;
    return page;
  };
  const ipam = {
    ...embedded,
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
    { pools: [{ name: SCAN_POOL.name, prefix: SCAN_POOL.prefix, prefix_length: SCAN_POOL.prefixLength, ipam: 'embedded' }], store: { ...store, heldPage }, ipam, netbox: null, radius: null },
  );
  t.stop();
  assert.equal(report.applied, { adopted: RECORDS, failed: [] });
  assert.is(turns.reduce((n, t) => n + t.read, 0), HELD);
  assert.ok(Math.max(...turns.map((t) => t.read)) <= KNOWN_PAGE, `at most ${Math.max(...turns.map((t) => t.read))} live rows read in one turn`);
  assert.is(turns.reduce((n, t) => n + t.asked, 0), RECORDS);
  assert.ok(Math.max(...turns.map((t) => t.asked)) <= REFUSAL_SLICE, `at most ${Math.max(...turns.map((t) => t.asked))} prefixes asked about in one turn`);
  assert.ok(Math.max(...turns.map((t) => t.adopted)) <= ADOPT_SLICE, `at most ${Math.max(...turns.map((t) => t.adopted))} prefixes adopted in one turn`);
  assert.is((db.prepare("SELECT count(*) AS n FROM lifecycles WHERE subscriber_id LIKE 'imp-%'").get() as { n: number }).n, RECORDS);
  db.close();
});

test.run();
