// The NetBox IPAM's other modes against the independent stand-in: the description mark (no custom
// fields), the deprecate release with owner affinity and the sweep, and an exhausted pool (409).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { live, run } from './netbox-standin-run.ts';

const test = suite('NetBox IPAM modes against the independent stand-in');

test('description mark: allocate, revoke and the leak check find prefixes by q= and read them back', async () => {
  const r = await run({ customFields: [], maxPageSize: 50 });
  try {
    for (let i = 0; i < 60; i++) assert.is((await r.call('POST', 'allocate', { subscriber_id: `d${i}` })).status, 201);
    const row = live(r.nb)[0]!;
    assert.match(row.description, /^ipv6-lifecycle lc=\S+ key=[\w-]{22} sub=d0$/);
    assert.is((await r.call('POST', 'revoke', { subscriber_id: 'd0' })).body.state, 'revoked');
    assert.is(live(r.nb).length, 59);
    const job = await r.call('POST', 'jobs/leaks');
    assert.is(job.body.counts.leaked, 0, job.text);
    const m = (await r.call('GET', 'metrics')).body;
    assert.equal([m.pools[0].allocated, m.leaks], [59, 0]);
  } finally {
    await r.close();
  }
});

for (const customFields of [undefined, []]) {
  test(`deprecate mode, ${customFields ? 'description' : 'custom field'} mark: a revoked prefix is held down, given back to its owner, and swept once expired`, async () => {
    const r = await run({ ...(customFields ? { customFields } : {}) }, undefined, () => ({ netbox: { release: { mode: 'deprecate', hold_down_s: 3600 } } }));
    try {
      const a = await r.call('POST', 'allocate', { subscriber_id: 'o1' });
      assert.is((await r.call('POST', 'revoke', { subscriber_id: 'o1' })).body.state, 'revoked');
      const held = live(r.nb).find((p) => p.prefix === a.body.prefix)!;
      assert.is(held.status, 'deprecated');
      assert.is(held.comments, '', 'freed: no longer quarantined');
      const b = await r.call('POST', 'allocate', { subscriber_id: 'o2' });
      assert.is.not(b.body.prefix, a.body.prefix, 'nobody else gets a held-down prefix');
      const back = await r.call('POST', 'allocate', { subscriber_id: 'o1' });
      assert.is(back.status, 201, back.text);
      assert.is(back.body.prefix, a.body.prefix, 'its owner gets it back');
      assert.is(r.nb.rows.get(held.id)!.status, 'active');
      assert.is((await r.call('POST', 'revoke', { subscriber_id: 'o2' })).body.state, 'revoked');
      const o2 = live(r.nb).find((p) => p.prefix === b.body.prefix)!;
      o2.last_updated = new Date(Date.now() - 7200_000).toISOString();
      const job = await r.call('POST', 'jobs/leaks');
      assert.is(job.body.counts.swept, 1, job.text);
      assert.not.ok(r.nb.rows.has(o2.id));
    } finally {
      await r.close();
    }
  });
}

test('an exhausted pool: NetBox 409 is pool_exhausted, and nothing is left behind', async () => {
  const r = await run({}, undefined, () => ({}), { prefix_length: 46 });
  try {
    for (let i = 0; i < 4; i++) assert.is((await r.call('POST', 'allocate', { subscriber_id: `x${i}` })).status, 201);
    const full = await r.call('POST', 'allocate', { subscriber_id: 'x4' });
    assert.is(full.status, 409, full.text);
    assert.is(full.body.error.code, 'pool_exhausted');
    assert.is([...r.nb.rows.values()].length, 5);
  } finally {
    await r.close();
  }
});

test.run();
