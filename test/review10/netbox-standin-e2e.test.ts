// The service's NetBox IPAM driven end to end (allocate, activate, update, revoke, the leak job,
// GET /metrics) against the independent stand-in (netbox-standin.ts), with a few hundred prefixes
// over several pages and `next` URLs on a reverse proxy's public base.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { V1, V2 } from './netbox-standin.ts';
import { live, run } from './netbox-standin-run.ts';

const test = suite('NetBox IPAM against the independent stand-in');

test('a few hundred lifecycles over many pages: allocate, activate, update, revoke, leaks and metrics hold', async () => {
  const r = await run({ publicBase: 'https://netbox.example.net:8443/', maxPageSize: 100 });
  try {
    // 150 prefixes someone else made by hand, inside the parent.
    for (let i = 0; i < 149; i++) r.nb.add(`2001:db8:8:${(i * 256).toString(16)}::/56`, 'active');
    // One in a VRF: under a global-table container it counts too, and is never handed out.
    r.nb.add('2001:db8:0:500::/56', 'active', { vrf: 5 });
    const N = 250;
    for (let i = 0; i < N; i++) {
      const got = await r.call('POST', 'allocate', { subscriber_id: `s${i}` });
      assert.is(got.status, 201, got.text);
    }
    const first = await r.call('POST', 'activate', { subscriber_id: 's0', username: 's0@example.net' });
    assert.is(first.body.state, 'active', first.text);
    const moved = await r.call('POST', 'update', { subscriber_id: 's0' });
    assert.is(moved.body.state, 'active', moved.text);
    assert.is.not(moved.body.prefix, first.body.prefix);
    assert.is((await r.call('POST', 'revoke', { subscriber_id: 's1', reason: 'terminated' })).body.state, 'revoked');
    const prefixes = new Set(live(r.nb).map((p) => p.prefix));
    assert.is(prefixes.size, live(r.nb).length, 'no prefix handed out twice');
    assert.is(live(r.nb).filter((p) => p.prefix === '2001:db8:0:500::/56').length, 1, 'the VRF child is skipped');
    assert.is(live(r.nb).length, 150 + N - 1, 'the update retired its old prefix, the revocation deleted its own');
    assert.ok(r.nb.requests.some((q) => q.method === 'DELETE'));

    const metrics = await r.call('GET', 'metrics');
    const pd = metrics.body.pools.find((p: { name: string }) => p.name === 'pd');
    assert.equal([pd.capacity, pd.allocated], [4096, 150 + N - 1], metrics.text);
    assert.is(metrics.body.leaks, 0, metrics.text);
    const prom = await r.call('GET', '/metrics');
    assert.match(prom.text, new RegExp(`ipv6_pool_allocated_prefixes\\{[^}]*pool="pd"[^}]*\\} ${150 + N - 1}`));

    // A prefix under our mark that its lifecycle does not hold (a duplicate of its allocation, under its own key): a leak, found and reclaimed.
    const lc = (await r.call('GET', 'lifecycle/s2')).body;
    r.nb.add('2001:db8:f:ff00::/56', 'active', {
      tags: ['ipv6-lifecycle'],
      custom_fields: { lifecycle_id: lc.lifecycle_id, lifecycle_subscriber_id: "s2", lifecycle_key: `${lc.lifecycle_id}:allocate:0` },
    });
    const job = await r.call('POST', 'jobs/leaks');
    assert.is(job.status, 200, job.text);
    assert.ok(![...r.nb.rows.values()].some((p) => p.prefix === '2001:db8:f:ff00::/56'), `the leak is reclaimed: ${job.text}`);
    assert.is((await r.call('GET', 'metrics')).body.leaks, 0);
    // The client pages by id (keyset): it never follows the proxy's `next` to another host.
    const lists = r.nb.requests.filter((q) => q.url.startsWith('/api/ipam/prefixes/?'));
    assert.ok(lists.some((q) => /id__gt=[1-9]/.test(q.url)) && !lists.some((q) => /offset=/.test(q.url)));
  } finally {
    await r.close();
  }
});

test('a v2 token (Bearer nbt_…) is accepted; a token without write permission fails allocation as upstream_rejected', async () => {
  const v2 = await run({}, V2);
  try {
    const got = await v2.call('POST', 'allocate', { subscriber_id: 'v2' });
    assert.is(got.status, 201, got.text);
  } finally {
    await v2.close();
  }
  const ro = await run({ readOnly: [V1] });
  try {
    const got = await ro.call('POST', 'allocate', { subscriber_id: 'ro' });
    assert.equal([got.status, got.body.error.code], [409, 'upstream_rejected'], got.text);
    assert.match(got.body.error.message, /after 1 attempt/, 'a 403 is not retried');
    assert.equal(live(ro.nb), []);
  } finally {
    await ro.close();
  }
});

for (const legacy of [false, true]) {
  test(`over 1000 prefixes at the default MAX_PAGE_SIZE (1000), ${legacy ? 'ordering/id__gt ignored: by offset' : 'by id'}: the pool figures span two pages`, async () => {
    const r = await run({ publicBase: 'http://10.255.255.1:1/', legacy });
    try {
      for (let i = 0; i < 1234; i++) r.nb.add(`2001:db8:${(8 + (i >> 8)).toString(16)}:${((i & 255) * 256).toString(16)}::/56`);
      assert.is((await r.call('POST', 'allocate', { subscriber_id: 'big' })).status, 201);
      const m = (await r.call('GET', 'metrics')).body;
      assert.equal([m.pools[0].allocated, m.leaks], [1235, 0]);
      const pages = r.nb.requests.filter((q) => q.url.includes('within='));
      assert.ok(pages.some((q) => (legacy ? q.url.includes('offset=1000') : /id__gt=[1-9]\d{2,}/.test(q.url))), JSON.stringify(pages));
    } finally {
      await r.close();
    }
  });
}

test.run();
