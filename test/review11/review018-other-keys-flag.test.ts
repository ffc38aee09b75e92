// Review 018 (1a41735): the embedded IPAM skips looking a step key up under its text spelling while
// no text key is stored ("a flag only ever set"). The flag was read once, at start: a block written
// through the ipam_allocations view by another connection (the operator's sqlite3 the migration
// names) under lifecycle A with lifecycle B's step key was then never looked for, and B's allocation
// under its own key took a second block: one key, two blocks, which the view itself refuses.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase } from '../../store/db.ts';
import { createEmbeddedIpam } from '../../services/ipam/embedded.ts';

const test = suite('review018: a text key written by another connection is looked up');
let dir: string;
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'review018-flag-'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

const A = '0190a000-0000-7000-8000-00000000000a';
const B = '0190a000-0000-7000-8000-00000000000b';

test("another connection's block under B's step key: B's allocation under that key is refused, not given a second block", async () => {
  const file = join(dir, 'db.sqlite');
  const db = openDatabase(file);
  const ipam = createEmbeddedIpam(db, [{ name: 'documentation', prefix: '2001:db8::/32', prefixLength: 48 }]);
  await ipam.allocate({ pool: 'documentation', prefixLength: 48, subscriberId: 's-0', key: `${A}:allocate:0`, lifecycleId: A });

  const operator = new Database(file);
  operator
    .prepare(
      `INSERT INTO ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at)
       VALUES ('documentation', '20010db8ff0000000000000000000000', '20010db8ffffffffffffffffffffffff', '2001:db8:ff::/48', 48, @key, @a, 's-a', '2026-12-03T09:06:08.511Z')`,
    )
    .run({ key: `${B}:allocate:0`, a: A });
  operator.close();

  let refused: unknown;
  await ipam.allocate({ pool: 'documentation', prefixLength: 48, subscriberId: 's-b', key: `${B}:allocate:0`, lifecycleId: B }).catch((e: unknown) => (refused = e));
  assert.is(db.prepare(`SELECT count(*) FROM ipam_allocations WHERE key = '${B}:allocate:0'`).pluck().get(), 1, 'one block under the key');
  assert.match(String((refused as Error | undefined)?.message), new RegExp(A), 'refused, naming the lifecycle that holds the key');
  db.close();
});

test.run();
