// An import's dry run planned `adopt` for a file line whose block the embedded IPAM holds without a
// live lifecycle showing it (a revoked lifecycle's prefix in its hold-down, a lifecycle's allocation
// still in flight): only the live lifecycles were looked up. The real run then refused the line in
// `applied.failed`, after the dry run had promised it, which an operator plans a migration window on.
// One generated file, every shape a migration meets, run both ways on SQLite and PostgreSQL: the dry
// run's verdict per line is the real run's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type pg from 'pg';
import { runImport, type ImporterDeps } from '../../services/adoption/importer.ts';
import type { FileRecord, ImportReport } from '../../services/adoption/types.ts';
import { createEmbeddedIpam } from '../../services/ipam/embedded.ts';
import { createPgEmbeddedIpam } from '../../services/ipam/embedded-pg.ts';
import type { EmbeddedPool } from '../../services/ipam/pool-rules.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import { createIpamRouter } from '../../services/ipam/router.ts';
import type { PoolSpec } from '../../runtime/operation-types.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf, type LifecyclePort } from '../../store/port.ts';
import { createPgLifecycleStore } from '../../store/postgresql/lifecycles.ts';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('review15: an import dry run names the conflicts its real run meets, line by line');

const EMBEDDED: EmbeddedPool[] = [
  { name: 'home', prefix: '2001:db9::/40', prefixLength: 56, holdDownS: 600 },
  { name: 'biz', prefix: '2001:db7::/40', prefixLength: 48, holdDownS: 600 },
];
const POOLS: PoolSpec[] = EMBEDDED.map((p) => ({ name: p.name, prefix: p.prefix, prefix_length: p.prefixLength, ipam: 'embedded' }));
const alloc = (id: string) => ({ key: `${id}:allocate:0`, lifecycleId: id, subscriberId: `sub-${id}`, pool: 'home', prefixLength: 56 });
const rel = (id: string, prefix: string) => ({ lifecycleId: id, subscriberId: `sub-${id}`, pool: 'home', prefix, netboxPrefixId: null });

interface Rig {
  deps: ImporterDeps;
  clock: { ms: number };
  close(): Promise<void>;
}

/** The field before the import: one live lifecycle, a held-down block, an in-flight one, a revoked one long given back. */
async function generate(rig: Rig): Promise<{ lines: FileRecord[]; expected: Record<string, string> }> {
  const live = await runImport({ dryRun: false, sources: { file: { records: [{ subscriber_id: 'S-LIVE', prefix: '2001:db9:0:f00::/56' }] } } }, rig.deps);
  assert.is(live.applied?.adopted, 1);
  const { ipam } = rig.deps;
  const held = (await ipam.allocate(alloc('lc-held'))).prefix;
  await ipam.free(rel('lc-held', held));
  const flight = (await ipam.allocate(alloc('lc-flight'))).prefix;
  const revoked = (await ipam.allocate(alloc('lc-revoked'))).prefix;
  await ipam.free(rel('lc-revoked', revoked));
  rig.clock.ms += 601_000;
  const held2 = (await ipam.allocate(alloc('lc-held-now'))).prefix;
  await ipam.free(rel('lc-held-now', held2));
  const lines: FileRecord[] = [
    { subscriber_id: 'S-CLEAN', prefix: '2001:db9:0:1000::/56' },
    { subscriber_id: 'S-LIVE', prefix: '2001:db9:0:1200::/56' },
    { subscriber_id: 'S-OTHER', prefix: '2001:db9:0:f00::/56', state: 'active' },
    { subscriber_id: 'S-HELD', prefix: held2 },
    { subscriber_id: 'S-FLIGHT', prefix: flight },
    { subscriber_id: 'S-REVOKED', prefix: revoked },
    { subscriber_id: 'S-NESTED', prefix: '2001:db9:0:f10::/60' },
    { subscriber_id: 'S-HOSTBITS', prefix: '2001:db9:0:3601::/56' },
    { subscriber_id: 'S-DUP', prefix: '2001:db9:0:1100::/56' },
    { subscriber_id: 'S-DUP', prefix: '2001:db9:0:1100::/56' },
    { subscriber_id: 'S-BIZ', prefix: '2001:db7:1::/48' },
    { subscriber_id: 'S-OUT', prefix: '2001:dead::/56' },
  ];
  // The allocation of `held-now` took the lowest block given back: `held`'s, and `revoked`'s is free.
  assert.is(held2, held);
  const expected: Record<string, string> = {
    'S-CLEAN': 'adopt',
    'S-LIVE': 'conflict:live_lifecycle',
    'S-OTHER': 'conflict:live_lifecycle',
    'S-HELD': 'conflict:ipam_held',
    'S-FLIGHT': 'conflict:ipam_held',
    'S-REVOKED': 'adopt',
    'S-NESTED': 'conflict:live_lifecycle,wrong_length',
    'S-HOSTBITS': 'conflict:outside_pools',
    'S-DUP': 'adopt',
    'S-BIZ': 'adopt',
    'S-OUT': 'conflict:outside_pools',
  };
  return { lines, expected };
}

/** Each line's verdict: its entry's action and conflicts; a real run's `adopt` that IPAM refused is `refused`. */
function verdicts(lines: FileRecord[], report: ImportReport): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const e = report.entries.find((x) => x.prefix === line.prefix);
    assert.ok(e, `an entry for ${line.subscriber_id} ${line.prefix}`);
    const refused = report.applied?.failed.find((f) => f.prefix === e.prefix && f.subscriber_id === e.subscriber_id);
    out[line.subscriber_id] = refused ? `refused: ${refused.error}` : e.action === 'conflict' ? `conflict:${e.conflicts.map((c) => c.kind).sort().join(',')}` : e.action;
  }
  return out;
}

async function bothWays(rig: Rig): Promise<void> {
  try {
    const { lines, expected } = await generate(rig);
    const req = { sources: { file: { records: lines } } };
    const dry = await runImport({ ...req, dryRun: true }, rig.deps);
    const real = await runImport({ ...req, dryRun: false }, rig.deps);
    assert.equal(verdicts(lines, dry), verdicts(lines, real), 'the dry run predicts the real run line by line');
    assert.equal(verdicts(lines, real), expected);
    assert.equal(real.applied?.failed, []);
    assert.is(real.applied?.adopted, 4);
    const held = dry.entries.find((e) => e.subscriber_id === 'S-HELD')!;
    assert.match(held.conflicts[0]!.message, /held-down|quarantined/);
    const again = await runImport({ ...req, dryRun: true }, rig.deps);
    assert.equal(again.summary, { ...real.summary, adopt: 0, adopted: 4 });
  } finally {
    await rig.close();
  }
}

async function rigOf(ipamOf: (now: () => number) => Promise<IpamPort>, store: LifecyclePort, close: () => Promise<void>): Promise<Rig> {
  const clock = { ms: Date.parse('2030-01-01T00:00:00.000Z') };
  const embedded = await ipamOf(() => clock.ms);
  const ipam = createIpamRouter(new Map(POOLS.map((p) => [p.name, embedded])));
  return { clock, deps: { pools: POOLS, store, ipam, netbox: null, radius: null, now: () => new Date(clock.ms) }, close };
}

test('SQLite: held-down and in-flight lines are ipam_held both ways; every other line as the real run has it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dryrun15-'));
  const db = openDatabase(join(dir, 'lifecycle.db'));
  await bothWays(
    await rigOf(async (now) => createEmbeddedIpam(db, EMBEDDED, { now }), asyncOf(createLifecycleStore(db)), async () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }),
  );
});

let cluster: PgCluster | null = null;
test.after(async () => void (await cluster?.stop()));

test('PostgreSQL: the same file, the same verdicts', async () => {
  if (!postgresAvailable('the import dry run on PostgreSQL')) return;
  cluster = await startPostgres();
  const pool: pg.Pool = createPgPool({ url: await cluster.createDatabase('dryrun15'), max: 4 });
  await migrate(pool);
  await bothWays(await rigOf((now) => createPgEmbeddedIpam(pool, EMBEDDED, { now }), createPgLifecycleStore(pool), () => pool.end()));
});

test.run();
