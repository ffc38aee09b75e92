// The list pages of the SQLite lifecycle store (store/lifecycles.ts `list`): one statement per shape.
import type Database from 'better-sqlite3';
import { LIFECYCLE_STATES } from '../machines/types.ts';
import type { Db } from './db.ts';
import type { LifecycleRow, ListQuery } from './lifecycles.ts';

type PageParams = { state?: string; pool?: string; created_at?: string; id?: string; limit: number };

/**
 * The statement of one shape of list query (its filters, order and whether it has a cursor). Without
 * a state, one leg per state, merged in order (MERGE (UNION ALL): each leg stops once the limit is
 * reached): through lifecycles_state when there is no filter, instead of an index of its own on
 * (created_at, id); through lifecycles_pool (pool, state, created_at, id) with a pool, the index
 * that seeks on both filters (migration 014). Migration 013 keeps every row's state among
 * LIFECYCLE_STATES, so the legs read every row.
 */
export function listSql(q: Omit<ListQuery, 'limit'>): string {
  const desc = q.order === 'desc';
  const cursor = q.after !== undefined ? [`(created_at, id) ${desc ? '<' : '>'} (@created_at, @id)`] : [];
  const pool = q.pool !== undefined ? ['pool = @pool'] : [];
  const dir = desc ? 'DESC' : 'ASC';
  const order = `ORDER BY created_at ${dir}, id ${dir} LIMIT @limit`;
  if (q.state === undefined) {
    const legs = LIFECYCLE_STATES.map((s) => `SELECT * FROM lifecycles WHERE ${[`state = '${s}'`, ...pool, ...cursor].join(' AND ')}`);
    return `${legs.join(' UNION ALL ')} ${order}`;
  }
  return `SELECT * FROM lifecycles WHERE ${['state = @state', ...pool, ...cursor].join(' AND ')} ${order}`;
}

/**
 * Pages in creation order, keyed by (created_at, id): ids alone would not do, as the lifecycles
 * stored before time-ordered (v7) ids have random v4 ones. A key past the previous page's last row
 * (not an offset) keeps pages stable while lifecycles are created. One statement per filter, order
 * and cursor, so that an index on (filters, created_at, id) serves each without a sort
 * (migrations/005-list-order.sql, 013-slim-storage.sql, 014-bounded-reads.sql).
 */
export function pageQueries(db: Db) {
  const cache = new Map<string, Database.Statement<PageParams, LifecycleRow>>();
  return (q: ListQuery): LifecycleRow[] => {
    const desc = q.order === 'desc';
    const shape = [q.state !== undefined, q.pool !== undefined, q.after !== undefined, desc].map(Number).join('');
    let stmt = cache.get(shape);
    if (!stmt) {
      stmt = db.prepare<PageParams, LifecycleRow>(listSql(q));
      cache.set(shape, stmt);
    }
    const params: PageParams = { limit: q.limit };
    if (q.state !== undefined) params.state = q.state;
    if (q.pool !== undefined) params.pool = q.pool;
    if (q.after !== undefined) Object.assign(params, { created_at: q.after.created_at, id: q.after.id });
    return stmt.all(params);
  };
}
