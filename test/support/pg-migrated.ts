// A throw-away cluster with one database at the product's schema (store/postgresql migrations) and a
// client on it: what a PostgreSQL query-plan test needs before it fills its table and EXPLAINs.
import pg from 'pg';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
import { startPostgres } from './postgres.ts';

/** Runs `fn` with a client on a freshly migrated database `name`; the client and the cluster end after. */
export async function withMigratedClient(name: string, fn: (c: pg.Client) => Promise<void>): Promise<void> {
  const cluster = await startPostgres();
  try {
    const url = await cluster.createDatabase(name);
    const pool = createPgPool({ url, max: 1 });
    await migrate(pool);
    await pool.end();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await fn(c);
    } finally {
      await c.end();
    }
  } finally {
    await cluster.stop();
  }
}

/** EXPLAIN of `sql` with `params`, its plan's lines joined. */
export async function explained(c: pg.Client, sql: string, params: unknown[]): Promise<string> {
  const { rows } = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}
