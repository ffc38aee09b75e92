// The readiness probe on PostgreSQL against a real failover's second half: a hot standby of the
// store answers reads but refuses the probe's write until it is promoted, then takes it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPgPool } from '../../../store/postgresql/pool.ts';
import { createPgProbe } from '../../../store/postgresql/probe.ts';
import { createPgReconciliationStore } from '../../../store/postgresql/reconciliation.ts';
import { openPostgresStore } from '../../../store/postgresql/store.ts';
import { postgresAvailable, startPostgres, startStandby, type PgCluster } from '../../support/postgres.ts';

const test = suite('store/postgresql probe');
const clusters: PgCluster[] = [];
test.after(async () => {
  for (const c of clusters.reverse()) await c.stop();
});

test('probe() → resolves on the primary, rejects on its hot standby (which still reads), resolves there once promoted', async () => {
  if (!postgresAvailable('the PostgreSQL readiness probe')) return;
  const primary = await startPostgres();
  clusters.push(primary);
  const url = await primary.createDatabase('probe');
  const store = await openPostgresStore({ url, max: 2 });
  const run = { started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:00:01.000Z', dry_run: false, counts: { a: 1 } };
  try {
    await store.probe();
    await store.reconciliation.replace(run, []);
  } finally {
    await store.close();
  }

  const standby = await startStandby(primary);
  clusters.push(standby);
  const pool = createPgPool({ url: url.replace(`:${primary.port}/`, `:${standby.port}/`), max: 2 });
  try {
    assert.equal((await pool.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0], { r: true });
    const probe = createPgProbe(pool);
    let refused: unknown = null;
    await probe().catch((e: unknown) => (refused = e));
    assert.match(String(refused), /read-only transaction/);
    assert.equal(await createPgReconciliationStore(pool).lastRun(), run, 'the standby still serves reads');
    await standby.promote();
    await probe();
  } finally {
    await pool.end();
  }
});

test.run();
