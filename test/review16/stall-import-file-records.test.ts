// Issue 10: the file source's records were canonicalised all at once (a parse and a format of every
// prefix), 50,000 in one turn of the event loop. The importer reads FILE_SLICE a turn now; counted
// per turn: the reads of a record's prefix, which only that canonicalisation makes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { countPerTurn } from '../support/event-loop.ts';
import { fillHeld, SCAN_POOL } from '../../bench/scans.ts';
import { runImport } from '../../services/adoption/importer.ts';
import { FILE_SLICE, fromFile, fromFileInTurns } from '../../services/adoption/sources.ts';
import { formatPrefix, nthSubnet } from '../../services/ipv6.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';

const test = suite('stall: file records are read a slice per turn');
const N = 3 * FILE_SLICE + 5;

function records(count: () => void) {
  return Array.from({ length: N }, (_, i) => {
    // Mixed: canonical, upper case with zeros spelled out, host bits set, not a prefix at all.
    const p = formatPrefix(nthSubnet(SCAN_POOL.prefix, SCAN_POOL.prefixLength, 500 + i));
    const prefix = i % 4 === 0 ? p : i % 4 === 1 ? ` ${p.toUpperCase().replace('::', ':0:0:')} ` : i % 4 === 2 ? p.replace('/56', '/40') : `not-${i}`;
    const r = { subscriber_id: `imp-${i}`, username: `imp-${i}@isp.example`, state: 'active' as const } as { subscriber_id: string; username: string; state: 'active'; prefix: string };
    Object.defineProperty(r, 'prefix', { enumerable: true, get: () => (count(), prefix) });
    return r;
  });
}

test(`a dry run of ${N} file records reads at most FILE_SLICE records' prefixes in one turn`, async () => {
  const db = openDatabase(':memory:');
  const ipam = fillHeld(db, 100);
  const store = asyncOf(createLifecycleStore(db));
  const t = countPerTurn();
  const report = await runImport(
    { sources: { file: { records: records(t.count) } }, dryRun: true },
    { pools: [{ name: SCAN_POOL.name, prefix: SCAN_POOL.prefix, prefix_length: SCAN_POOL.prefixLength, ipam: 'embedded' }], store, ipam, netbox: null, radius: null },
  );
  t.stop();
  assert.is(t.turns.reduce((n, x) => n + x, 0), N);
  assert.ok(Math.max(...t.turns) <= FILE_SLICE, `${Math.max(...t.turns)} prefixes read in one turn`);
  assert.is(report.summary.entries, N);
  db.close();
});

test('fromFileInTurns observes what fromFile does, in order', async () => {
  const list = records(() => undefined);
  assert.equal(await fromFileInTurns(list), fromFile(list));
  assert.equal(await fromFileInTurns([]), []);
});

test.run();
