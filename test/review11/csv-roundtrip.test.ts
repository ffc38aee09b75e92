// Review 11 (csv): the report's CSV escapes a formula cell with a leading ' (csv-stringify's
// `escape_formulas`), and docs/adoption.md has the operator feed that CSV back. The round trip is
// exact: the writer also marks a cell that itself starts with ' (doubled), the reader takes off
// exactly that one mark, and a hand-typed 'abc stays as it is.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readRecords } from '../../scripts/import.ts';
import { fromCsv, toCsv } from '../../services/adoption/report.ts';
import type { ImportReport } from '../../services/adoption/types.ts';
import { startHarness, type Harness } from '../http/support.ts';
import { createRandom } from '../support/soak-random.ts';

const test = suite('review11 (csv): the report CSV fed back reads the names it was written from');
let h: Harness;
let dir: string;

test.before(async () => {
  h = await startHarness();
  dir = mkdtempSync(join(tmpdir(), 'csv-roundtrip-'));
});
test.after(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

type Entry = ImportReport['entries'][number];
const entry = (subscriber_id: string, username: string | null, cpe_id: string | null): Entry => ({
  subscriber_id,
  prefix: '2001:db8::/56',
  pool: 'residential',
  ipam: 'fake',
  username,
  cpe_id,
  state: 'active',
  sources: ['file'],
  netbox_prefix_id: null,
  lifecycle_id: null,
  action: 'adopt',
  conflicts: [],
});
const report = (entries: Entry[]): ImportReport =>
  ({ dry_run: true, generated_at: '2030-01-01T00:00:00.000Z', sources: ['file'], summary: { entries: entries.length, adopt: entries.length, adopted: 0, conflict: 0, conflicts_by_kind: {} }, applied: null, entries }) as ImportReport;

const back = (r: ImportReport) => (fromCsv(toCsv(r)) as { entries: Record<string, string | null>[] }).entries.map((e) => [e.subscriber_id, e.username, e.cpe_id]);

// Leading characters the writer escapes, the quote itself, and ones it leaves alone.
const HEADS = ["'", "''", '=', '+', '-', '@', '\t', '\r', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20', 'a', '7', '"', ',', '\n'];
// Cells are trimmed when read (a hand-edited CSV), so a generated name ends in a visible character.
const BODY = ['a', 'Z', '9', '-', '+', '=', '@', "'", '"', ',', ';', ' ', '\t', '\r\n', '\u00e9', '\uFF1D', '\u{1F600}'];

test('toCsv then fromCsv: every generated name comes back exactly (seeded, 2,000 rows)', () => {
  const rnd = createRandom(0x11c5);
  const name = () => {
    let s = rnd.pick(HEADS);
    for (let n = rnd.int(0, 6); n > 0; n--) s += rnd.pick(BODY);
    return `${s}${rnd.pick(['x', '1', "'", '='])}`;
  };
  const entries = Array.from({ length: 2000 }, () => entry(name(), name(), rnd.chance(0.5) ? name() : null));
  const got = back(report(entries));
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    assert.equal(got[i], [e.subscriber_id, e.username, e.cpe_id], `row ${i}: ${JSON.stringify(e.subscriber_id)}`);
  }
});

test("toCsv then fromCsv: the names at the edges (a lone quote, '', ''=, =, CR, full-width forms)", () => {
  const names = ["'", "''", "'''", "''=1", "'=1", "'-sub-1", "'abc", '=1+1', '-sub-1', '+4930123456', '@SUM(A1)', '\t=1', '\r=1', '\uFF1D1', '\uFF0D1', '\uFF0B1', '\uFF201', 'plain'];
  assert.equal(
    back(report(names.map((n) => entry(n, n, null)))),
    names.map((n) => [n, n, null]),
  );
});

test('toCsv: a cell starting with a quote is written with one more; the formula cells with one', () => {
  const lines = toCsv(report([entry("'abc", '-sub-1', "''")])).split('\r\n');
  assert.is(lines[1], "''abc,2001:db8::/56,'-sub-1,''',active,");
});

test("fromCsv: a hand-typed 'abc, or a quote before a plain character, stays as it is", () => {
  const text = "subscriber_id,prefix,username\r\n'abc,2001:db8::/56,'a'\r\n";
  assert.equal(fromCsv(text), [{ subscriber_id: "'abc", prefix: '2001:db8::/56', username: "'a'" }]);
});

test('POST /import?format=csv, the CSV fed back through --file and POST /import?dry_run=false: -sub-1 and +4930123456 adopted exactly', async () => {
  const records = [{ subscriber_id: '-sub-1', prefix: '2001:db8:0:700::/56', username: '+4930123456' }];
  const plan = await h.post('import?format=csv', { sources: { file: { records } } });
  assert.is(plan.status, 200, plan.text);
  assert.is(plan.text.split('\r\n')[1], "'-sub-1,2001:db8:0:700::/56,'+4930123456,,suspended,");
  const file = join(dir, 'decided.csv');
  writeFileSync(file, plan.text);
  const decided = readRecords(file);
  assert.equal(decided.map((r) => [r.subscriber_id, r.username]), [['-sub-1', '+4930123456']]);
  const applied = await h.post('import?dry_run=false', { sources: { file: { records: decided } } });
  assert.is(applied.status, 200, applied.text);
  assert.equal(applied.body.applied, { adopted: 1, failed: [] });
  const got = await h.get('/api/v1/network/ipv6/lifecycle/-sub-1');
  assert.is(got.status, 200, got.text);
  assert.equal([got.body.subscriber_id, got.body.username, got.body.prefix], ['-sub-1', '+4930123456', '2001:db8:0:700::/56']);
  assert.is((await h.get(`/api/v1/network/ipv6/lifecycle/${encodeURIComponent("'-sub-1")}`)).status, 404);
});

test.run();
