import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startHarness, type Harness } from './support.ts';

const test = suite('POST /import');
let h: Harness;

test.before.each(async () => {
  h = await startHarness();
});
test.after.each(async () => {
  await h.close();
});

const records = [
  { subscriber_id: 'sub-a', prefix: '2001:db8:0:100::/56', username: 'a@isp', cpe_id: 'CPE-A', state: 'active' },
  { subscriber_id: 'sub-b', prefix: '2001:db8:0:200::/56' },
  { subscriber_id: 'sub-c', prefix: '2001:db8:0:300::/64' },
];
const body = { sources: { file: { records } } };

test('a dry run by default: the plan, with the conflicts named, and nothing adopted', async () => {
  const res = await h.post('import', body);
  assert.is(res.status, 200, res.text);
  assert.is(res.body.dry_run, true);
  assert.equal(
    res.body.entries.map((e: any) => [e.prefix, e.action, e.state, e.conflicts.map((c: any) => c.kind)]),
    [
      ['2001:db8:0:100::/56', 'adopt', 'active', []],
      ['2001:db8:0:200::/56', 'adopt', 'allocated', []],
      ['2001:db8:0:300::/64', 'conflict', 'allocated', ['wrong_length']],
    ],
  );
  assert.is((await h.get('/api/v1/network/ipv6/lifecycle/sub-a')).status, 404);
  assert.equal(h.ipam.allocations(), []);
});

test('dry_run=false adopts: the lifecycle is served in its state and takes operations like any other', async () => {
  const res = await h.post('import?dry_run=false', body);
  assert.is(res.status, 200, res.text);
  assert.equal(res.body.applied, { adopted: 2, failed: [] });
  const a = await h.get('/api/v1/network/ipv6/lifecycle/sub-a');
  assert.equal([a.body.state, a.body.prefix, a.body.username, a.body.cpe_id], ['active', '2001:db8:0:100::/56', 'a@isp', 'CPE-A']);
  const events = await h.get('/api/v1/network/ipv6/lifecycle/sub-a/events');
  assert.equal(events.body.events.map((e: any) => e.type), ['IMPORTED']);
  assert.equal(h.ipam.allocations().map((x) => [x.prefix, x.lifecycleId]), [
    ['2001:db8:0:100::/56', a.body.lifecycle_id],
    ['2001:db8:0:200::/56', (await h.get('/api/v1/network/ipv6/lifecycle/sub-b')).body.lifecycle_id],
  ]);
  const suspended = await h.post('suspend', { subscriber_id: 'sub-a', reason: 'unpaid' });
  assert.is(suspended.status, 200, suspended.text);
  assert.is(suspended.body.state, 'suspended');
  const again = await h.post('import?dry_run=false', body);
  assert.equal([again.body.applied.adopted, again.body.summary.adopted], [0, 2]);
});

test('a file record naming a subscriber or CPE the API would refuse is a 400 naming it: nothing is adopted', async () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ subscriber_id: '.', prefix: '2001:db8:0:400::/56' }, 'sources.file.records.1.subscriber_id'],
    [{ subscriber_id: 'ab\uD800', prefix: '2001:db8:0:500::/56' }, 'sources.file.records.1.subscriber_id'],
    [{ subscriber_id: 'sub-e', prefix: '2001:db8:0:700::/56', cpe_id: 'no spaces allowed' }, 'sources.file.records.1.cpe_id'],
  ];
  for (const [record, field] of cases) {
    const res = await h.post('import?dry_run=false', { sources: { file: { records: [records[1], record] } } });
    assert.equal([res.status, res.body.error?.code, res.body.error?.field], [400, 'validation_error', field], res.text);
  }
  assert.equal(h.ipam.allocations(), []);
  assert.is((await h.get('/api/v1/network/ipv6/lifecycle/sub-b')).status, 404);
});

test('a username another subscriber holds is a conflict: nothing of it is adopted', async () => {
  const activated = await h.post('allocate', { subscriber_id: 'sub-live' });
  assert.is(activated.status, 201, activated.text);
  assert.is((await h.post('activate', { subscriber_id: 'sub-live', username: 'taken@isp' })).status, 200);
  const res = await h.post('import?dry_run=false', { sources: { file: { records: [{ subscriber_id: 'sub-d', prefix: '2001:db8:0:600::/56', username: 'taken@isp' }] } } });
  assert.is(res.status, 200, res.text);
  assert.equal(
    res.body.entries.map((e: any) => [e.prefix, e.action, e.conflicts.map((c: any) => c.kind)]),
    [['2001:db8:0:600::/56', 'conflict', ['username_in_use']]],
  );
  assert.equal(res.body.applied, { adopted: 0, failed: [] });
  assert.equal(h.ipam.allocations().map((x) => x.prefix), [activated.body.prefix]);
  assert.is((await h.get('/api/v1/network/ipv6/lifecycle/sub-d')).status, 404);
});

test('?format=csv answers the report in the file source columns plus conflict', async () => {
  const res = await h.post('import?format=csv', body);
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
  const lines = res.text.trim().split('\r\n');
  assert.is(lines[0], 'subscriber_id,prefix,username,cpe_id,state,conflict');
  assert.is(lines[3], 'sub-c,2001:db8:0:300::/64,,,allocated,wrong_length: 2001:db8:0:300::/64 is a /64; pool residential delegates /56');
});

test('a bad request is refused with 400 naming the field', async () => {
  const cases: Array<[unknown, string, string?]> = [
    [{ sources: { file: { records: [{ prefix: '2001:db8::/56' }] } } }, 'sources.file.records.0.subscriber_id'],
    [{ sources: { file: { records: [{ subscriber_id: 's', prefix: 'p', state: 'revoked' }] } } }, 'sources.file.records.0.state'],
    [{ sources: {}, extra: 1 }, 'extra'],
    [{ sources: {} }, 'sources'],
    [{ sources: { netbox: { subscriber: { custom_field: 'x' } } } }, 'sources.netbox'],
    [{ sources: { radius: {} } }, 'sources.radius'],
    [body, 'dry_run', 'import?dry_run=maybe'],
  ];
  for (const [json, field, path] of cases) {
    const res = await h.post(path ?? 'import', json);
    assert.equal([res.status, res.body.error.field], [400, field], JSON.stringify(json));
  }
});

test.run();
