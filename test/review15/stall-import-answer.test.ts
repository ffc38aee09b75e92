// Issue 10: the answer to an import of 50,000 records is 14.5 MB of JSON, serialised by Koa in one
// turn of the event loop. jsonInSlices gives the same bytes in pieces of JSON_SLICE entries with a
// turn between them, and POST /import streams them; with an Idempotency-Key the object is answered
// (http/idempotency.ts stores it) and replayed as before.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { JSON_SLICE, jsonInSlices } from '../../services/adoption/report.ts';
import type { ImportReport } from '../../services/adoption/types.ts';
import { startHarness, type Harness } from '../http/support.ts';

const test = suite('stall: the import answer gives the event loop back');
const N = 2 * JSON_SLICE + 3;
const records = Array.from({ length: N }, (_, i) => ({
  subscriber_id: `s-${i}`,
  prefix: `2001:db8:${(i >> 8).toString(16)}:${(i & 255).toString(16)}00::/56`,
  username: i % 2 ? `u-${i}@isp` : null,
  state: 'active' as const,
}));
let h: Harness | undefined;
test.after.each(async () => {
  await h?.close();
  h = undefined;
});

test(`jsonInSlices of ${N} entries: JSON.stringify's bytes, at most JSON_SLICE entries a piece, a turn between pieces`, async () => {
  h = await startHarness({ config: { api: { body_limit_bytes: 1_000_000 } } });
  const report = (await h.post('import', { sources: { file: { records } } })).body as ImportReport;
  assert.is(report.entries.length, N);
  let turns = 0;
  let on = true;
  const tick = () => on && (turns++, setImmediate(tick));
  setImmediate(tick);
  const pieces: { text: string; turn: number }[] = [];
  for await (const text of jsonInSlices(report)) pieces.push({ text, turn: turns });
  on = false;
  assert.is(pieces.map((p) => p.text).join(''), JSON.stringify(report));
  const entriesIn = (t: string) => t.split('"prefix":').length - 1;
  assert.is(pieces.reduce((n, p) => n + entriesIn(p.text), 0), N);
  assert.ok(Math.max(...pieces.map((p) => entriesIn(p.text))) <= JSON_SLICE);
  const withEntries = pieces.filter((p) => entriesIn(p.text) > 0);
  assert.is(withEntries.length, 3);
  assert.is(new Set(withEntries.map((p) => p.turn)).size, withEntries.length, 'each piece of entries in a turn of its own');
});

test('POST /import streams the JSON answer, byte for byte what JSON.stringify gives; keyed, it is answered and replayed whole', async () => {
  h = await startHarness({ config: { api: { body_limit_bytes: 1_000_000 } } });
  const res = await h.post('import', { sources: { file: { records } } });
  assert.is(res.status, 200, res.text);
  assert.is(res.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.is(res.headers.get('transfer-encoding'), 'chunked');
  assert.is(res.headers.get('content-length'), null);
  assert.is(res.text, JSON.stringify(res.body));
  assert.is(res.body.entries.length, N);
  assert.is(res.body.summary.adopt, N);

  const keyed = { headers: { 'idempotency-key': 'stall-import-answer-1' } };
  const first = await h.post('import', { sources: { file: { records: records.slice(0, 3) } } }, keyed);
  const again = await h.post('import', { sources: { file: { records: records.slice(0, 3) } } }, keyed);
  assert.is(first.status, 200, first.text);
  assert.is(again.headers.get('idempotent-replayed'), 'true');
  assert.equal(again.body.entries, first.body.entries);
  assert.is(first.text, JSON.stringify(first.body));
});

test.run();
