// store/held-scratch.ts: the leak check's temporary table of what it saw in IPAM. Emptying it is
// paged, giving the event loop back between pages: at ten million holdings one DELETE held the
// loop for 250 ms.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase } from '../../store/db.ts';
import { createHeldScratch } from '../../store/held-scratch.ts';

const test = suite('held scratch');

test('clear() empties 12,000 holdings in pages, letting other work run between them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'scratch-'));
  const db = openDatabase(join(dir, 'x.sqlite'));
  try {
    const seen = createHeldScratch(db);
    seen.add(Array.from({ length: 12_000 }, (_, i) => ({ pool: 'p', prefix: `2001:db8:${i.toString(16)}::/56` })));
    assert.ok(seen.has('p', '2001:db8:2edf::/56'));
    // Queued before the clear: it runs before the clear ends only if the clear gives the loop back.
    let otherWorkRan = false;
    setImmediate(() => (otherWorkRan = true));
    await seen.clear();
    const ranMeanwhile = otherWorkRan;
    assert.ok(ranMeanwhile, 'the event loop ran other work while the table was emptied');
    const count = db.prepare('SELECT count(*) AS n FROM temp.leak_check_seen').get() as { n: number };
    assert.is(count.n, 0, 'empty');
    assert.not.ok(seen.has('p', '2001:db8:2edf::/56'));
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
