import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Db } from './db.ts';

/**
 * What the leak check saw in IPAM, kept in a temporary table of this connection instead of the
 * JS heap: at a million holdings a Set of their keys made the collector stall the event loop for
 * 100 ms at a time. Temporary tables live in SQLite's temp store, never in the database file, and
 * vanish with the connection. One check at a time uses it (runtime/inventory.ts shares a running one).
 */
export type HeldScratch = ReturnType<typeof createHeldScratch>;

export function createHeldScratch(db: Db) {
  db.exec('CREATE TEMP TABLE IF NOT EXISTS leak_check_seen (pool TEXT NOT NULL, prefix TEXT NOT NULL, PRIMARY KEY (pool, prefix)) WITHOUT ROWID');
  // A page at a time: one DELETE of ten million rows held the event loop for 250 ms, and a page of
  // 5,000 about 50 ms at a million on a slower machine.
  const clearPage = db.prepare(
    'DELETE FROM temp.leak_check_seen WHERE (pool, prefix) IN (SELECT pool, prefix FROM temp.leak_check_seen LIMIT 1000)',
  );
  const insert = db.prepare<{ pool: string; prefix: string }>('INSERT OR IGNORE INTO temp.leak_check_seen (pool, prefix) VALUES (@pool, @prefix)');
  const has = db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM temp.leak_check_seen WHERE pool = ? AND prefix = ?');
  const addAll = db.transaction((items: readonly { pool: string; prefix: string }[]) => {
    for (const i of items) insert.run({ pool: i.pool, prefix: i.prefix });
  });
  return {
    async clear(): Promise<void> {
      while (clearPage.run().changes > 0) await nextTurn();
    },
    add: (items: readonly { pool: string; prefix: string }[]): void => void addAll(items),
    has: (pool: string, prefix: string) => has.get(pool, prefix) !== undefined,
  };
}
