// POST /import planned `adopt` for a file record whose prefix lies inside another subscriber's live
// block (an allocate or update with a shorter prefix_length), or holds one of another length: only
// the exact prefix was looked up. The apply then failed it on the embedded IPAM (`applied.failed`),
// after a dry run had promised it; NetBox would have created the nested prefix, two live lifecycles
// on the same addresses. docs/adoption.md: `live_lifecycle`, "the prefix is another subscriber's".
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatPrefix, networkOf, nthSubnet, parsePrefix } from '../../services/ipv6.ts';
import { BASE, startHarness, type Harness } from '../http/support.ts';

const test = suite('review14: POST /import names a prefix nesting with another live lifecycle live_lifecycle');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

const entryOf = async (record: object, dry = true) => {
  const r = await h.request('POST', `${BASE}/import?dry_run=${dry}`, { json: { sources: { file: { records: [record] } } } });
  assert.is(r.status, 200, JSON.stringify(r.body));
  return { entry: r.body.entries[0], applied: r.body.applied };
};

test('a /56 inside a live /48: conflict live_lifecycle, dry and real, and nothing adopted', async () => {
  const wide = await h.post('allocate', { subscriber_id: 'nest-wide', prefix_length: 48 });
  assert.is(wide.status, 201);
  const inner = formatPrefix(nthSubnet(wide.body.prefix, 56, 1));
  for (const dry of [true, false]) {
    const { entry } = await entryOf({ subscriber_id: 'nest-inner', prefix: inner }, dry);
    assert.is(entry.action, 'conflict', JSON.stringify(entry));
    assert.equal(entry.conflicts.map((c: { kind: string }) => c.kind), ['live_lifecycle']);
    assert.match(JSON.stringify(entry.conflicts), wide.body.prefix);
  }
  assert.is((await h.get(`${BASE}/lifecycle/nest-inner`)).status, 404);
});

test('a /56 holding a live /64: conflict live_lifecycle; a /56 beside them is adopted', async () => {
  const narrow = await h.post('allocate', { subscriber_id: 'nest-narrow', prefix_length: 64 });
  assert.is(narrow.status, 201);
  const around = formatPrefix({ network: networkOf(parsePrefix(narrow.body.prefix).network, 56), length: 56 });
  const { entry } = await entryOf({ subscriber_id: 'nest-around', prefix: around });
  assert.is(entry.action, 'conflict', `${around} ${JSON.stringify(entry)}`);
  assert.equal(entry.conflicts.map((c: { kind: string }) => c.kind), ['live_lifecycle']);
  const beside = await entryOf({ subscriber_id: 'nest-beside', prefix: '2001:db8:ff::/56' }, false);
  assert.is(beside.entry.action, 'adopt', JSON.stringify(beside.entry));
  assert.is(beside.applied.adopted, 1);
});

test.run();
