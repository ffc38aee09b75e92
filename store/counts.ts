import type { Db } from './db.ts';
import type { LifecycleRow, ListCursor } from './lifecycles.ts';
import type { SnapshotColumns } from './snapshot-codec.ts';

/** One pool's lifecycles that got a prefix, and that were revoked, within a window, by delegated length. */
export interface PoolFlow {
  pool: string;
  prefix_length: number;
  allocated: number;
  revoked: number;
  /** Start of the oldest hour with any figure, `YYYY-MM-DDTHH`. */
  since: string;
}

/** A prefix a leak check found unreturned, as stored for counting it once. */
export interface LeakRecord {
  lifecycle_id: string;
  prefix: string;
  pool: string;
  first_seen_at: string;
  counted_at: string | null;
}

/**
 * The figures /metrics reads on every scrape (migration 006): counts kept by triggers in the
 * transaction of each lifecycle write, so each read is a few primary-key rows, never a scan.
 */
export interface MetricCounts {
  byState(): Record<string, number>;
  pending(): number;
  /** Prefixes that more than one live lifecycle shows. */
  shared(): number;
  /** Flows per pool and length since `sinceHour` (`YYYY-MM-DDTHH`, inclusive). */
  flows(sinceHour: string): PoolFlow[];
  /** Leaks stored and counted (passed leak_after_s): the value of ipv6_prefix_leak_total. */
  leaksCounted(): number;
  leak(lifecycleId: string, prefix: string): LeakRecord | undefined;
  /**
   * A page of the failed lifecycles, `limit` of them after `after` in (created_at, id) order on the
   * state index, for the leak check to walk a turn of the event loop a page. The snapshot (decoded
   * against the columns: store/snapshot-codec.ts) only of those that show a prefix: the others it skips.
   */
  failedPage(limit: number, after?: ListCursor): FailedRow[];
  /**
   * Stores a leak check's unreturned prefixes in one transaction: uncounted ones not among them
   * were returned in time and are forgotten; counted ones stay counted whatever `records` says.
   */
  replaceUncounted(records: readonly LeakRecord[]): void;
  /** The last leak check's figure (prefixes leaked) and when it ended (ms since the epoch), or null before any. */
  lastLeakCheck(): LeakCheck | null;
  saveLeakCheck(check: LeakCheck): void;
}

/** A failed lifecycle as the leak check reads it: `snapshot` is null when `prefix` is. */
export type FailedRow = SnapshotColumns & ListCursor & Pick<LifecycleRow, 'updated_at'> & { snapshot: string | null };

/** The columns of a FailedRow, on SQLite and PostgreSQL. */
export const FAILED_COLUMNS =
  'id, subscriber_id, pool, prefix, prefix_length, netbox_prefix_id, username, cpe_id, allocated_at, activated_at, suspended_at, revoked_at, created_at, updated_at, CASE WHEN prefix IS NULL THEN NULL ELSE snapshot END AS snapshot';

/** What a leak check found, kept so that a new process reports it without walking again. */
export interface LeakCheck {
  leaked: number;
  at: number;
}

/** Its keys in lifecycle_counts (outside the `state:` range the state counts are read from). */
export const LEAK_CHECK_KEYS = { leaked: 'check:leaked', at: 'check:leaked_at' } as const;

export function createMetricCounts(db: Db): MetricCounts {
  const byKey = db.prepare<[], { key: string; n: number }>("SELECT key, n FROM lifecycle_counts WHERE key >= 'state:' AND key < 'state;'");
  const one = db.prepare<[string], { n: number }>('SELECT n FROM lifecycle_counts WHERE key = ?');
  // The hours since, by the hour's index (migration 014), which keeps 8 days of them. Named, because
  // without statistics the planner prefers to scan the table (it groups by the key's pool anyway).
  const flows = db.prepare<[string], PoolFlow>(`
    SELECT pool, prefix_length, sum(allocated) AS allocated, sum(revoked) AS revoked, min(hour) AS since
    FROM pool_tally INDEXED BY pool_tally_hour WHERE hour >= ? GROUP BY pool, prefix_length`);

  const getLeak = db.prepare<[string, string], LeakRecord>('SELECT * FROM prefix_leaks WHERE lifecycle_id = ? AND prefix = ?');
  // A record already counted is never touched again: counted once, whatever later checks say.
  const putLeak = db.prepare(`
    INSERT INTO prefix_leaks (lifecycle_id, prefix, pool, first_seen_at, counted_at)
    VALUES (@lifecycle_id, @prefix, @pool, @first_seen_at, @counted_at)
    ON CONFLICT (lifecycle_id, prefix) DO UPDATE SET counted_at = excluded.counted_at WHERE counted_at IS NULL`);
  // Every failed row in one .all() held the loop for the whole set (review18, a copy of the 1M field
  // with 100,000 failed in a revocation: 1,040 ms in one piece with the decoding; pages of 250: 2-5 ms
  // the worst page; replaceUncounted of the 100,000 records is still 300 ms). Failed rows without a prefix are in the page too,
  // snapshot left out, so that a page reads `limit` index entries at most, however few show a prefix.
  const failed = {
    first: db.prepare<{ limit: number }, FailedRow>(
      `SELECT ${FAILED_COLUMNS} FROM lifecycles WHERE state = 'failed' ORDER BY created_at, id LIMIT @limit`,
    ),
    next: db.prepare<{ limit: number; created_at: string; id: string }, FailedRow>(
      `SELECT ${FAILED_COLUMNS} FROM lifecycles WHERE state = 'failed' AND (created_at, id) > (@created_at, @id) ORDER BY created_at, id LIMIT @limit`,
    ),
  };
  const forgetUncounted = db.prepare('DELETE FROM prefix_leaks WHERE counted_at IS NULL');
  const replaceUncounted = db.transaction((records: readonly LeakRecord[]) => {
    forgetUncounted.run();
    for (const r of records) putLeak.run(r);
  });
  const putCount = db.prepare('INSERT INTO lifecycle_counts (key, n) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET n = excluded.n');
  const saveLeakCheck = db.transaction((check: LeakCheck) => {
    putCount.run(LEAK_CHECK_KEYS.leaked, check.leaked);
    putCount.run(LEAK_CHECK_KEYS.at, check.at);
  });
  return {
    byState: () => Object.fromEntries(byKey.all().map((r) => [r.key.slice('state:'.length), r.n])),
    pending: () => one.get('pending')?.n ?? 0,
    shared: () => one.get('shared')?.n ?? 0,
    flows: (sinceHour) => flows.all(sinceHour),
    leaksCounted: () => one.get('leaks')?.n ?? 0,
    leak: (lifecycleId, prefix) => getLeak.get(lifecycleId, prefix),
    failedPage: (limit, after) => (after ? failed.next.all({ limit, created_at: after.created_at, id: after.id }) : failed.first.all({ limit })),
    replaceUncounted: (records) => replaceUncounted(records),
    lastLeakCheck: () => {
      const leaked = one.get(LEAK_CHECK_KEYS.leaked)?.n;
      const at = one.get(LEAK_CHECK_KEYS.at)?.n;
      return leaked === undefined || at === undefined ? null : { leaked, at };
    },
    saveLeakCheck: (check) => saveLeakCheck(check),
  };
}
