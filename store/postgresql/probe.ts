// The readiness probe's own write on PostgreSQL (store/db.ts's probeWrite for SQLite): one row
// updated in place (migration 005). A server that takes no writes refuses it: a standby the
// address now points at after a failover (pg_is_in_recovery()), a database or role set to
// default_transaction_read_only; a server gone fails the query as any other would.
import type pg from 'pg';

const PROBE = 'UPDATE store_probe SET at = now() WHERE id = 1';

/** Resolves once the server took the write; rejects with the server's error when it did not. */
export function createPgProbe(pool: pg.Pool): () => Promise<void> {
  return async () => {
    const { rowCount } = await pool.query(PROBE);
    // The row is the migration's: gone, the schema is not the one this process migrated.
    if (rowCount !== 1) throw new Error('store_probe has no row: the database is not the one migrated');
  };
}
