import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createEmbeddedIpam } from '../../services/ipam/embedded.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { createPoolUse } from '../../store/pool-use.ts';
import { lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('store: which pools are in use');

test('draining(): pools not configured that live lifecycles or embedded blocks use, with their IPAMs, count and last parent', async () => {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  const embedded = createEmbeddedIpam(db, [{ name: 'gone', prefix: '2001:db8:a::/48', prefixLength: 56 }]);
  await embedded.allocate({ key: 'k1', lifecycleId: 'l1', subscriberId: 's1', pool: 'gone', prefixLength: 56 });
  // A leaked block (no lifecycle) in a second removed pool, and lifecycles in a removed NetBox pool.
  createEmbeddedIpam(db, [{ name: 'leaky', prefix: '2001:db8:b::/48', prefixLength: 60 }]);
  db.prepare(
    `INSERT INTO ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at)
     VALUES ('leaky', '20010db8000b00000000000000000000', '20010db8000b000fffffffffffffffff', '2001:db8:b::/60', 60, 'k9', 'l9', 's9', '2026-01-01T00:00:00Z')`,
  ).run();
  store.save(lifecycleRow({ id: 'l1', pool: 'gone', prefix: '2001:db8:a::/56' }, { ipam: 'embedded', current: { pool: 'gone', ipam: 'embedded' } }), null);
  for (const id of ['n1', 'n2']) store.save(lifecycleRow({ id, pool: 'nb', prefix_length: 48, state: 'active' }, { ipam: 'netbox', current: { pool: 'nb', ipam: 'netbox' } }), null);
  store.save(lifecycleRow({ id: 'n3', pool: 'nb', state: 'revoked' }, { ipam: 'netbox' }), null);
  store.save(lifecycleRow({ id: 'c1', pool: 'kept' }, { ipam: 'embedded' }), null);

  const use = createPoolUse(db);
  const found = use.draining(new Set(['kept']));
  assert.equal(found.sort((a, b) => a.name.localeCompare(b.name)), [
    { name: 'gone', prefix: '2001:db8:a::/48', prefixLength: 56, ipams: ['embedded'], lifecycles: 1 },
    { name: 'leaky', prefix: '2001:db8:b::/48', prefixLength: 60, ipams: ['embedded'], lifecycles: 0 },
    { name: 'nb', prefix: null, prefixLength: 48, ipams: ['netbox'], lifecycles: 2 },
  ]);
  assert.equal(use.draining(new Set(['kept', 'gone', 'leaky', 'nb'])), [], 'configured pools are not draining');
  assert.equal(use.users('gone'), { lifecycles: 1, blocks: 1 });
  assert.equal(use.users('nb'), { lifecycles: 2, blocks: 0 });
  db.close();
});

test('draining() finds the pools by index seeks, not by visiting every lifecycle (start-up with millions stored)', () => {
  const db = openDatabase(':memory:');
  const plans: string[] = [];
  const prepare = db.prepare.bind(db);
  // The plan of every statement on lifecycles that pool-use prepares.
  (db as { prepare: typeof db.prepare }).prepare = ((sql: string) => {
    if (/FROM lifecycles/.test(sql)) for (const r of prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...sql.split('?').slice(1).map(() => null)) as { detail: string }[]) plans.push(`${r.detail}  ← ${sql.replace(/\s+/g, ' ').slice(0, 70)}`);
    return prepare(sql);
  }) as typeof db.prepare;
  createPoolUse(db);
  const scans = plans.filter((p) => /^SCAN lifecycles\b/.test(p));
  assert.equal(scans, [], 'no statement visits every lifecycle');
  assert.ok(plans.some((p) => /SEARCH lifecycles USING COVERING INDEX lifecycles_pool \(pool>\?\)/.test(p)), plans.join('\n'));
});

test.run();
