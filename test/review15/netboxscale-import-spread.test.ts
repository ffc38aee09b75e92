import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runImport } from '../../services/adoption/importer.ts';
import { seedField, type Field } from '../support/adoption-field.ts';

// An ISP's NetBox holds hundreds of thousands of prefixes: the import joined its sources with
// observations.push(...source), which passes every observation as an argument and overflows the
// stack (RangeError: Maximum call stack size exceeded) at about 120k.
const test = suite('netboxscale: an import of 130k records');
let field: Field;

test.before(async () => {
  field = await seedField();
});
test.after(async () => {
  await field.close();
});

test('a dry run of 130,000 file records plans every one of them', async () => {
  const records = Array.from({ length: 130_000 }, (_, i) => ({
    subscriber_id: `S-${i}`,
    prefix: `2001:dba:${(i >> 8).toString(16)}:${((i & 0xff) << 8).toString(16)}::/56`,
  }));
  const report = await runImport({ sources: { file: { records } }, dryRun: true }, field.deps);
  assert.is(report.entries.length, 130_000);
  assert.equal(new Set(report.entries.flatMap((e) => e.conflicts.map((c) => c.kind))), new Set(['outside_pools']));
});

test.run();
