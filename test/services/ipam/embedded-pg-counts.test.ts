import type pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { pgPoolCounts } from '../../../services/ipam/embedded-pg-counts.ts';
import { createPgEmbeddedIpam } from '../../../services/ipam/embedded-pg.ts';
import { checkPools } from '../../../services/ipam/pool-rules.ts';
import { createPgPool, migrate } from '../../../store/postgresql/pool.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../../support/postgres.ts';
import { churn, type Rows } from './counts-churn.ts';

// embedded-counts.test.ts on PostgreSQL: the counts migration 008's triggers keep are the blocks'.
const test = suite('embedded IPAM on PostgreSQL: the kept counts utilization() reads');
let cluster: PgCluster | null = null;
test.after(async () => void (await cluster?.stop()));

const KEPT = "SELECT whole_allocated, whole_quarantined, split_units, split_quarantined, outside FROM ipam_pools WHERE pool = 'p'";

test('after random churn (sticky re-takes, adoptions, hold-downs passing, restarts with another length or parent) the figures are the blocks’ and the counts a recount’s', async () => {
  if (!postgresAvailable('the embedded IPAM on PostgreSQL')) return;
  cluster = await startPostgres();
  const db: pg.Pool = createPgPool({ url: await cluster.createDatabase('ipam_counts'), max: 4 });
  try {
    await migrate(db);
    let checked = 0;
    const warned: object[] = [];
    await churn(
      {
        start: (pool, now) => createPgEmbeddedIpam(db, [pool], { now, log: { warn: (fields) => void warned.push(fields) } }),
        async rows(): Promise<Rows> {
          const allocated = (await db.query<{ prefix: string }>("SELECT prefix FROM ipam_allocations WHERE pool = 'p'")).rows.map((r) => r.prefix);
          const quarantined = (await db.query<Rows['quarantined'][number]>("SELECT prefix, reusable_at FROM ipam_quarantine WHERE pool = 'p'")).rows;
          return { allocated, quarantined };
        },
        async check(pool) {
          // A recount from the rows, rolled back: what the triggers kept must be what it finds.
          const c = await db.connect();
          try {
            await c.query('BEGIN');
            const before = (await c.query(KEPT)).rows[0];
            await pgPoolCounts.recount(c, checkPools([pool]).get('p')!);
            assert.equal(before, (await c.query(KEPT)).rows[0], 'kept counts = recount');
          } finally {
            await c.query('ROLLBACK');
            c.release();
          }
          checked++;
        },
      },
      300,
    );
    assert.is(checked, 300);
    assert.ok(warned.some((w) => JSON.stringify(w).startsWith('{"pool":"p","parent":"2001:db8:100::/44","moved_from":"2001:db8::/44","lifecycles":')), JSON.stringify(warned));
  } finally {
    await db.end();
  }
});

test.run();
