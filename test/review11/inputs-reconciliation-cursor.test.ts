// Review 11 (inputs): `GET /reconciliation?cursor=` took any 1–20 digits and Number() of them, so a
// cursor past Number.MAX_SAFE_INTEGER (no next_cursor can be one: it is a row's seq) was rounded and
// answered 200 with an empty page, as if the list had ended. It is a 400 naming `cursor`, as a bad
// `limit` is; a cursor within range pages as before.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';

const test = suite('review11 (inputs): a reconciliation cursor past Number.MAX_SAFE_INTEGER');
let h: Harness;
const page = (query: string) => h.get(`${BASE}/reconciliation?${query}`);

test.before(async () => {
  h = await startHarness();
  // Three prefixes IPAM holds for lifecycles nobody has: three `ipam_orphan` differences.
  for (const n of [1, 2, 3]) await h.ipam.allocate({ key: `orphan-${n}`, lifecycleId: `lc-orphan-${n}`, subscriberId: `orphan-${n}`, pool: 'residential', prefixLength: 56 });
  const run = await h.post('jobs/reconcile?dry_run=true', {});
  assert.ok(run.status < 300, run.text);
});
test.after(async () => h.close());

test('GET /reconciliation?cursor=<past 2^53 - 1> → 400 on cursor, not an empty page', async () => {
  for (const cursor of ['9007199254740992', '9007199254740993', '99999999999999999999', '18446744073709551616']) {
    const r = await page(`limit=1&cursor=${cursor}`);
    assert.is(r.status, 400, `${cursor}: ${r.text}`);
    assert.equal(r.body.error, { code: 'validation_error', message: 'cursor: must be a next_cursor from an earlier page', field: 'cursor' });
  }
});

test('a cursor within range pages as before: next_cursor walks the three differences, 2^53 - 1 is past the end', async () => {
  const first = await page('limit=2');
  assert.is(first.status, 200, first.text);
  assert.equal(first.body.items.map((i: any) => i.kind), ['ipam_orphan', 'ipam_orphan']);
  const second = await page(`limit=2&cursor=${first.body.next_cursor}`);
  assert.equal([second.body.items.length, second.body.next_cursor], [1, null]);
  const padded = await page(`limit=2&cursor=${first.body.next_cursor.padStart(20, '0')}`);
  assert.equal(padded.body.items, second.body.items, 'leading zeros are the same cursor');
  const last = await page(`cursor=${Number.MAX_SAFE_INTEGER}`);
  assert.equal([last.status, last.body.items, last.body.next_cursor], [200, [], null]);
});

test('not digits is refused as before', async () => {
  for (const cursor of ['-1', 'abc', '1e3', '1'.repeat(21)]) assert.is((await page(`cursor=${cursor}`)).body.error?.field, 'cursor', cursor);
});

test.run();
