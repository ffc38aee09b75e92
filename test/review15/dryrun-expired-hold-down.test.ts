// A block whose hold-down had passed (utilization counts it neither allocated nor held down) was
// refused by adopt(), "held by a quarantined or held-down block", until an allocation or the sweep
// happened to give it back: adopt() looked only at the free runs. An import right after the hold-down
// of a revoked subscriber then named the block `ipam_held` (or, before that, failed it). On SQLite
// and PostgreSQL, dry and real: the block is adopted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runImport } from '../../services/adoption/importer.ts';
import { createEmbeddedIpam } from '../../services/ipam/embedded.ts';
import { createPgEmbeddedIpam } from '../../services/ipam/embedded-pg.ts';
import type { EmbeddedPool } from '../../services/ipam/pool-rules.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf, type LifecyclePort } from '../../store/port.ts';
import { createPgLifecycleStore } from '../../store/postgresql/lifecycles.ts';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('review15: an import adopts a block whose hold-down has passed, before anything gave it back');
const POOL: EmbeddedPool = { name: 'home', prefix: '2001:db9::/40', prefixLength: 56, holdDownS: 600 };

async function afterHoldDown(ipamOf: (now: () => number) => Promise<IpamPort>, store: LifecyclePort): Promise<void> {
  const clock = { ms: Date.parse('2030-01-01T00:00:00.000Z') };
  const ipam = await ipamOf(() => clock.ms);
  const gone = await ipam.allocate({ key: 'gone:allocate:0', lifecycleId: 'lc-gone', subscriberId: 'S-GONE', pool: 'home', prefixLength: 56 });
  // A neighbour's block, held down still: it must stay held.
  const near = await ipam.allocate({ key: 'near:allocate:0', lifecycleId: 'lc-near', subscriberId: 'S-NEAR', pool: 'home', prefixLength: 56 });
  await ipam.free({ lifecycleId: 'lc-gone', subscriberId: 'S-GONE', pool: 'home', prefix: gone.prefix, netboxPrefixId: null });
  clock.ms += 601_000;
  await ipam.free({ lifecycleId: 'lc-near', subscriberId: 'S-NEAR', pool: 'home', prefix: near.prefix, netboxPrefixId: null });
  const [before] = await ipam.utilization();
  assert.is(before!.heldDown, 1, 'only the neighbour is held down');
  const deps = { pools: [{ name: 'home', prefix: POOL.prefix, prefix_length: 56, ipam: 'embedded' as const }], store, ipam, netbox: null, radius: null };
  const records = [{ subscriber_id: 'S-NEW', prefix: gone.prefix }, { subscriber_id: 'S-NEAR-NEW', prefix: near.prefix }];
  for (const dryRun of [true, false]) {
    const r = await runImport({ dryRun, sources: { file: { records } } }, deps);
    assert.equal(
      Object.fromEntries(r.entries.map((e) => [e.prefix, [e.action, ...e.conflicts.map((c) => c.kind)]])),
      { [gone.prefix]: ['adopt'], [near.prefix]: ['conflict', 'ipam_held'] },
      `dry_run ${dryRun}`,
    );
    if (!dryRun) assert.equal(r.applied, { adopted: 1, failed: [] });
  }
  assert.is((await store.live('S-NEW'))?.prefix, gone.prefix);
  const [after] = await ipam.utilization();
  assert.equal([after!.allocated, after!.heldDown], [2, 1], 'the adopted block and the neighbour held down');
}

test('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dryrun15-exp-'));
  const db = openDatabase(join(dir, 'lifecycle.db'));
  try {
    await afterHoldDown(async (now) => createEmbeddedIpam(db, [POOL], { now }), asyncOf(createLifecycleStore(db)));
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

let cluster: PgCluster | null = null;
test.after(async () => void (await cluster?.stop()));

test('PostgreSQL', async () => {
  if (!postgresAvailable('the embedded IPAM on PostgreSQL')) return;
  cluster = await startPostgres();
  const pool = createPgPool({ url: await cluster.createDatabase('dryrun15_exp'), max: 4 });
  try {
    await migrate(pool);
    await afterHoldDown((now) => createPgEmbeddedIpam(pool, [POOL], { now }), createPgLifecycleStore(pool));
  } finally {
    await pool.end();
  }
});

test.run();
