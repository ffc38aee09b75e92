// The store contract's parts that compose.ts first wired on SQLite alone (pool use, the last
// reconciliation run, audit pruning, the readiness probe): added to the suite of
// test/store/contract-suite.ts, so each runs against SQLite and PostgreSQL alike.
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import type { StorePort } from '../../store/port.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';
import type { ContractFixture } from './contract-suite.ts';

const block = (pool: string, hex: string, prefix: string, length: number, id: string) =>
  `INSERT INTO ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at)
   VALUES ('${pool}', '${hex}${'0'.repeat(32 - hex.length)}', '${hex}${'f'.repeat(32 - hex.length)}', '${prefix}', ${length}, 'k-${id}', '${id}', 's-${id}', '2026-01-01T00:00:00.000Z')`;
const quarantined = (pool: string, hex: string, prefix: string, freedAt: string | null) =>
  `INSERT INTO ipam_quarantine (pool, start_hex, end_hex, prefix, lifecycle_id, subscriber_id, released_at, freed_at, reusable_at)
   VALUES ('${pool}', '${hex}${'0'.repeat(32 - hex.length)}', '${hex}${'f'.repeat(32 - hex.length)}', '${prefix}', 'q-${pool}', 's', '2026-01-01T00:00:00.000Z',
           ${freedAt === null ? 'NULL' : `'${freedAt}'`}, '9999-01-01T00:00:00.000Z')`;

export function storePartsContract(test: Test, ctx: () => { f: ContractFixture; s: StorePort }): void {
  test('poolUse → the pools not configured that live lifecycles or unfreed embedded blocks use, with their IPAMs, count and last parent', async () => {
    const { f, s } = ctx();
    for (const [pool, parent] of [['gone', '2001:db8:a::/48'], ['leaky', '2001:db8:b::/48'], ['held', '2001:db8:c::/48'], ['freed', '2001:db8:d::/48']]) {
      await f.exec(`INSERT INTO ipam_pools (pool, parent) VALUES ('${pool}', '${parent}')`);
    }
    await f.exec(block('gone', '20010db8000a00', '2001:db8:a::/56', 56, 'l1'));
    // A leaked block (no lifecycle), a block still quarantined and one freed (no longer held).
    await f.exec(block('leaky', '20010db8000b000', '2001:db8:b::/60', 60, 'l9'));
    await f.exec(quarantined('held', '20010db8000c00', '2001:db8:c::/56', null));
    await f.exec(quarantined('freed', '20010db8000d00', '2001:db8:d::/56', '2026-01-02T00:00:00.000Z'));
    await s.lifecycles.save(lifecycleRow({ id: 'l1', pool: 'gone', prefix: '2001:db8:a::/56' }, { ipam: 'embedded', current: { pool: 'gone', ipam: 'embedded' } }), null);
    // A NetBox pool is known from its lifecycles alone; a revoked one does not count.
    for (const id of ['n1', 'n2']) await s.lifecycles.save(lifecycleRow({ id, pool: 'nb', prefix_length: 48, state: 'active' }, { ipam: 'netbox', current: { pool: 'nb', ipam: 'netbox' } }), null);
    await s.lifecycles.save(lifecycleRow({ id: 'n3', pool: 'nb', state: 'revoked' }, { ipam: 'netbox' }), null);
    await s.lifecycles.save(lifecycleRow({ id: 'r1', pool: 'old', state: 'revoked' }, { ipam: 'netbox' }), null);
    await s.lifecycles.save(lifecycleRow({ id: 'c1', pool: 'kept' }, { ipam: 'embedded' }), null);
    // A version-2 snapshot names its IPAM only when it is not the default (embedded).
    await s.lifecycles.save({ ...lifecycleRow({ id: 'v2', pool: 'compact', prefix_length: 60 }), snapshot: '{"v":2,"s":"allocated"}' }, null);

    const found = (await s.poolUse.draining(new Set(['kept']))).sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.equal(found, [
      { name: 'compact', prefix: null, prefixLength: 60, ipams: ['embedded'], lifecycles: 1 },
      { name: 'gone', prefix: '2001:db8:a::/48', prefixLength: 56, ipams: ['embedded'], lifecycles: 1 },
      { name: 'held', prefix: '2001:db8:c::/48', prefixLength: 56, ipams: ['embedded'], lifecycles: 0 },
      { name: 'leaky', prefix: '2001:db8:b::/48', prefixLength: 60, ipams: ['embedded'], lifecycles: 0 },
      { name: 'nb', prefix: null, prefixLength: 48, ipams: ['netbox'], lifecycles: 2 },
    ]);
    assert.equal(await s.poolUse.draining(new Set(['kept', 'compact', 'gone', 'held', 'leaky', 'nb'])), [], 'configured pools are not draining');
    assert.equal(await s.poolUse.users('gone'), { lifecycles: 1, blocks: 1 });
    assert.equal(await s.poolUse.users('held'), { lifecycles: 0, blocks: 1 });
    assert.equal(await s.poolUse.users('nb'), { lifecycles: 2, blocks: 0 });
    assert.equal(await s.poolUse.users('freed'), { lifecycles: 0, blocks: 0 });
  });

  test('reconciliation → one stored run: pages by kind past a seq, each run replaces the last; audit appends RECONCILED', async () => {
    const { s } = ctx();
    const r = s.reconciliation;
    assert.is(await r.lastRun(), null);
    assert.equal(await r.page({ limit: 10 }), { items: [], next: null });
    const row = (kind: string, n: number) => ({
      kind, lifecycle_id: `l${n}`, subscriber_id: null, username: `u${n}`, prefix: '2001:db8::/56', cpe_id: null, action: 'reported' as const, detail: { n, nested: { ok: true } },
    });
    const run = { started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:00:01.000Z', dry_run: false, counts: { a: 3, b: 1 } };
    await r.replace(run, [row('a', 1), row('b', 2), row('a', 3), row('a', 4)]);
    assert.equal(await r.lastRun(), run);
    const first = await r.page({ kind: 'a', limit: 2 });
    assert.equal(first.items, [{ seq: 1, ...row('a', 1) }, { seq: 3, ...row('a', 3) }]);
    assert.is(first.next, 3);
    const second = await r.page({ kind: 'a', limit: 2, after: first.next! });
    assert.equal([second.items.map((i) => i.username), second.next], [['u4'], null]);
    assert.equal((await r.page({ limit: 10 })).items.map((i) => i.seq), [1, 2, 3, 4]);
    await r.replace({ ...run, dry_run: true, counts: {} }, [row('b', 9)]);
    assert.equal((await r.page({ limit: 10 })).items.map((i) => [i.seq, i.username]), [[1, 'u9']]);
    assert.equal(await r.lastRun(), { ...run, dry_run: true, counts: {} });
    await r.replace(run, []);
    assert.equal(await r.page({ limit: 10 }), { items: [], next: null });

    const life = lifecycleRow({ id: 'a', state: 'active' });
    await s.lifecycles.save(life, auditEntry(life, 'CREATED'));
    await r.audit({ lifecycle_id: 'a', subscriber_id: 'sub-a', state: 'active', at: '2026-01-02T00:00:00.000Z', detail: { kind: 'radius_missing' } });
    assert.equal((await s.lifecycles.events('sub-a')).at(-1), {
      lifecycle_id: 'a', subscriber_id: 'sub-a', at: '2026-01-02T00:00:00.000Z', type: 'RECONCILED', from_state: 'active', to_state: 'active',
      detail: JSON.stringify({ state: 'active', kind: 'radius_missing' }),
    });
  });

  test('auditRetention → in batches, only entries older than the cut of revoked lifecycles go; again nothing; the rest stays append-only', async () => {
    const { f, s } = ctx();
    const [OLD, CUT, NEW] = ['2026-01-01T00:00:00.000Z', '2026-06-01T00:00:00.000Z', '2026-09-01T00:00:00.000Z'];
    const gone = lifecycleRow({ id: 'gone', state: 'revoked', revoked_at: NEW });
    const live = lifecycleRow({ id: 'live', state: 'active' });
    for (let i = 0; i < 5; i++) {
      await s.lifecycles.save(gone, { ...auditEntry(gone, `OLD_${i}`), at: OLD });
      await s.lifecycles.save(live, { ...auditEntry(live, `OLD_${i}`), at: OLD });
    }
    const last = async () => [await s.lifecycles.lastSeq('sub-gone'), await s.lifecycles.lastSeq('sub-live')];
    const marks = await last();
    await s.lifecycles.save(gone, { ...auditEntry(gone, 'REVOKE'), at: NEW });
    await s.lifecycles.save(live, { ...auditEntry(live, 'SUSPEND'), at: NEW });
    const kept = await s.lifecycles.events('sub-live');
    const before = await last();
    assert.is(await s.auditRetention.prune({ before: CUT, batch: 3 }), 5);
    assert.equal((await s.lifecycles.events('sub-gone')).map((e) => e.type), ['REVOKE']);
    assert.equal(await last(), before, 'pruning older entries moves no last seq');
    const after = await Promise.all(['sub-gone', 'sub-live'].map(async (sub, i) => (await s.lifecycles.eventsAfter(sub, marks[i]!)).map((e) => e.type)));
    assert.equal(after, [['REVOKE'], ['SUSPEND']], 'nor what comes after a mark taken before it');
    assert.equal(await s.lifecycles.events('sub-live'), kept);
    assert.is(await s.auditRetention.prune({ before: CUT, batch: 2 }), 0);
    assert.is(await s.auditRetention.prune({ before: '2025-01-01T00:00:00.000Z' }), 0);
    for (const sql of ["DELETE FROM audit WHERE lifecycle_id = 'live'", "DELETE FROM audit WHERE lifecycle_id = 'gone'"]) {
      let refused: unknown = null;
      await f.exec(sql).catch((e: unknown) => (refused = e));
      assert.match(String(refused), /append-only/, sql);
    }
  });

  test('probe → resolves on a store that takes writes, rejects on one that takes none (which still reads)', async () => {
    const { f, s } = ctx();
    await s.probe();
    await s.probe();
    const ro = await f.readOnly();
    let refused: unknown = null;
    await ro.probe().catch((e: unknown) => (refused = e));
    assert.match(String(refused), /read-?only/i);
    assert.is(await ro.reconciliation.lastRun(), null);
  });
}
