import { decodeAuditDetail, encodeAt, encodeAuditDetail, encodeLifecycleId, wordEncoder } from './audit-codec.ts';
import type { Db } from './db.ts';
import { pageQueries } from './list-pages.ts';

export { listSql } from './list-pages.ts';

/** A lifecycle whose pending work is due: what the pending worker asks for, and its place in the order. */
export type DueRow = Pick<LifecycleRow, 'id' | 'subscriber_id'> & { next_pending_at: string };
export type DueCursor = Pick<DueRow, 'id' | 'next_pending_at'>;

/** One lifecycle as stored: the snapshot plus the columns that queries need. */
export interface LifecycleRow {
  id: string;
  subscriber_id: string;
  state: string;
  busy: number;
  pool: string;
  prefix: string | null;
  prefix_length: number;
  netbox_prefix_id: number | null;
  username: string | null;
  cpe_id: string | null;
  allocated_at: string | null;
  activated_at: string | null;
  suspended_at: string | null;
  revoked_at: string | null;
  created_at: string;
  updated_at: string;
  next_pending_at: string | null;
  snapshot: string;
}

/** One audit entry: every event a lifecycle took, oldest first. */
export interface AuditEntry {
  lifecycle_id: string;
  subscriber_id: string;
  at: string;
  type: string;
  from_state: string | null;
  to_state: string;
  detail: string | null;
}

/** One snapshot to store: the row and the audit entry of the event that produced it. */
export interface SaveItem {
  row: LifecycleRow;
  audit: AuditEntry;
  /** An earlier item of the same batch stored this row already (a later snapshot's): only the audit entry is written. */
  rowStored?: boolean;
  /** What `audit.detail` is the JSON text of, when the caller has it: encoded without parsing the text (store/audit-codec.ts). */
  detail?: object;
}

/** What the leak check needs of a lifecycle to tell whether it holds a prefix. */
export type LifecycleHolder = Pick<LifecycleRow, 'id' | 'subscriber_id' | 'state' | 'busy' | 'pool' | 'prefix' | 'username'>;
/** The columns `holdersOf` looks lifecycles up by. */
export type HolderKey = 'id' | 'subscriber_id' | 'prefix' | 'username';

/** Where a page of a list starts: just past this lifecycle in (created_at, id) order. */
export type ListCursor = Pick<LifecycleRow, 'created_at' | 'id'>;

export interface ListQuery {
  state?: string | undefined;
  pool?: string | undefined;
  limit: number;
  /** By creation: `asc` oldest first (the default, for the runtime's scans), `desc` newest first. */
  order?: 'asc' | 'desc' | undefined;
  /** The last lifecycle of the previous page (a row will do). */
  after?: ListCursor | undefined;
}

/** The lifecycle store port: rows, audit trail, and the queries the runtime and API need. */
export interface LifecycleStore {
  /** Writes the row and appends the audit entry in one transaction. */
  save(row: LifecycleRow, audit: AuditEntry | null): void;
  /** Stores many snapshots, in order, in one transaction (all or none). */
  saveBatch(items: readonly SaveItem[]): void;
  /**
   * `saveBatch`'s writes without a savepoint of their own, for a caller inside `transaction()` that
   * rolls back what it holds when this throws (the allocation made at once: one savepoint, not three).
   * Throws outside a transaction, where a throw midway would leave part of the batch written.
   */
  writeBatch(items: readonly SaveItem[]): void;
  /** Runs `fn` in one transaction (a savepoint inside another): all its writes or none of them. */
  transaction<T>(fn: () => T): T;
  get(id: string): LifecycleRow | undefined;
  /** The subscriber's live lifecycle (any state but `revoked`). */
  live(subscriberId: string): LifecycleRow | undefined;
  /** The subscriber's newest lifecycle, live or not. */
  latest(subscriberId: string): LifecycleRow | undefined;
  list(q: ListQuery): LifecycleRow[];
  /** Ids of lifecycles with a step in flight: resumed at start-up. */
  busy(): string[];
  /** Lifecycles with pending outside work due at `now`, earliest first; `after` the last of the page before (migration 021). */
  duePending(now: string, limit: number, after?: DueCursor): DueRow[];
  /** How many lifecycles have pending work due at `now`, counted up to `limit` (an index range, no more). */
  countDue(now: string, limit: number): number;
  /** A live lifecycle given the CPE after `than` (activated since; created, for one never activated): it configured it since. */
  newerOnCpe(cpeId: string, than: Pick<LifecycleRow, 'id' | 'created_at' | 'activated_at'>): string | null;
  /**
   * Another subscriber whose live lifecycle has this RADIUS username (radreply is keyed by it), if
   * any; `folded`: compared as MySQL's collation does at least (ASCII case, trailing spaces).
   */
  usernameHolder(username: string, exceptSubscriberId: string, folded?: boolean): string | null;
  /** Another live lifecycle showing this prefix (lifecycles_live_prefix, migration 009): the allocation guard's seek. */
  prefixHolder(prefix: string, exceptLifecycleId: string): Pick<LifecycleRow, 'id' | 'subscriber_id' | 'state'> | null;
  countByState(): Record<string, number>;
  /** Lifecycles with outside work accepted but not confirmed (an offline CPE). */
  countPending(): number;
  /**
   * Prefixes that more than one live lifecycle shows: should never happen; an operator must look.
   * O(shared prefixes): the kept counts of migration 006 and the partial indexes of 007, no scan.
   */
  sharedPrefixes(): { prefix: string; lifecycle_ids: string[] }[];
  /** The columns the leak check reads of a lifecycle, without its snapshot. */
  holder(id: string): LifecycleHolder | undefined;
  /**
   * The lifecycles whose `by` is one of `values`, without their snapshots: by id in any state, by
   * subscriber, prefix or username the live ones. What an import's records name, a batch at a time,
   * each value a seek on its index (HOLDERS_OF): never a walk of every lifecycle (issue 10).
   */
  holdersOf(by: HolderKey, values: readonly string[]): LifecycleHolder[];
  /** A page of one state's lifecycles, in (created_at, id) order, without their snapshots: the leak check's walk. */
  heldPage(state: string, limit: number, after?: ListCursor): (LifecycleHolder & ListCursor)[];
  events(subscriberId: string): AuditEntry[];
  /**
   * The seq of the subscriber's last audit entry (0 for none), on its index alone: a mark that
   * pruning older entries cannot shift, unlike a count (test/review12 markseq-retention).
   */
  lastSeq(subscriberId: string): number;
  /** The subscriber's entries written after the one numbered `seq` (`lastSeq`'s), oldest first. */
  eventsAfter(subscriberId: string, seq: number): AuditEntry[];
}

/** The one write of a lifecycle row (also the bench's reference for raw upserts). */
export const UPSERT_LIFECYCLE = `
    INSERT INTO lifecycles (id, subscriber_id, state, busy, pool, prefix, prefix_length, netbox_prefix_id, username, cpe_id,
      allocated_at, activated_at, suspended_at, revoked_at, created_at, updated_at, next_pending_at, snapshot)
    VALUES (@id, @subscriber_id, @state, @busy, @pool, @prefix, @prefix_length, @netbox_prefix_id, @username, @cpe_id,
      @allocated_at, @activated_at, @suspended_at, @revoked_at, @created_at, @updated_at, @next_pending_at, @snapshot)
    ON CONFLICT (id) DO UPDATE SET state = excluded.state, busy = excluded.busy, pool = excluded.pool, prefix = excluded.prefix,
      prefix_length = excluded.prefix_length, netbox_prefix_id = excluded.netbox_prefix_id, username = excluded.username,
      cpe_id = excluded.cpe_id, allocated_at = excluded.allocated_at, activated_at = excluded.activated_at,
      suspended_at = excluded.suspended_at, revoked_at = excluded.revoked_at, updated_at = excluded.updated_at,
      next_pending_at = excluded.next_pending_at, snapshot = excluded.snapshot`;

/**
 * Live prefixes shown by more than one lifecycle: shared_prefixes (kept by the triggers of migration
 * 013, normally empty), then each one's lifecycles through the partial index on live lifecycles'
 * prefix (migration 009). Neither reads a row of a prefix that is not shared. CROSS JOIN keeps
 * shared_prefixes the outer loop: without statistics the planner would walk every live prefix.
 */
export const SHARED_PREFIXES = `
    SELECT p.prefix AS prefix, group_concat(l.id) AS ids FROM shared_prefixes AS p
    CROSS JOIN lifecycles AS l ON l.prefix = p.prefix AND l.state <> 'revoked'
    GROUP BY p.prefix`;

/**
 * The pending worker's check before a CPE step (runtime/step-actors.ts): a later live lifecycle on
 * the CPE. One seek on lifecycles_live_cpe_since (migration 020), whose expression this must spell
 * exactly as the index does, or SQLite reads every live row of the CPE and sorts them.
 */
export const NEWER_ON_CPE =
  "SELECT id FROM lifecycles WHERE cpe_id = @cpe_id AND state <> 'revoked' AND coalesce(activated_at, created_at) > @since ORDER BY coalesce(activated_at, created_at) DESC LIMIT 1";

/** The pending worker's pages and their count: a keyset on lifecycles_next_pending (next_pending_at, id), migration 021. */
const DUE = 'SELECT id, subscriber_id, next_pending_at FROM lifecycles WHERE next_pending_at IS NOT NULL AND next_pending_at <= @now';
export const DUE_FIRST = `${DUE} ORDER BY next_pending_at, id LIMIT @limit`;
export const DUE_NEXT = `${DUE} AND (next_pending_at, id) > (@at, @id) ORDER BY next_pending_at, id LIMIT @limit`;
export const DUE_COUNT = 'SELECT count(*) AS n FROM (SELECT 1 FROM lifecycles WHERE next_pending_at IS NOT NULL AND next_pending_at <= @now LIMIT @limit)';

/**
 * `holdersOf`'s statements, the values one JSON array: by id on the primary key, the others on the
 * partial indexes of live lifecycles (lifecycles_live_subscriber, migration 001; _live_prefix, 009;
 * _live_username, 016), whose WHERE each must repeat for SQLite to take it.
 */
const HOLDER_COLUMNS = 'id, subscriber_id, state, busy, pool, prefix, username';
export const HOLDERS_OF: Record<HolderKey, string> = {
  id: `SELECT ${HOLDER_COLUMNS} FROM lifecycles WHERE id IN (SELECT value FROM json_each(?))`,
  subscriber_id: `SELECT ${HOLDER_COLUMNS} FROM lifecycles WHERE subscriber_id IN (SELECT value FROM json_each(?)) AND state <> 'revoked'`,
  prefix: `SELECT ${HOLDER_COLUMNS} FROM lifecycles WHERE prefix IN (SELECT value FROM json_each(?)) AND prefix IS NOT NULL AND state <> 'revoked'`,
  username: `SELECT ${HOLDER_COLUMNS} FROM lifecycles WHERE username IN (SELECT value FROM json_each(?)) AND username IS NOT NULL AND state <> 'revoked'`,
};

/** better-sqlite3 implementation of the lifecycle store. */
export function createLifecycleStore(db: Db): LifecycleStore {
  const upsert = db.prepare(UPSERT_LIFECYCLE);
  // Straight into audit_log, encoded here (migration 013); the `audit` view reads it back as text.
  const insertAuditRow = db.prepare(`
    INSERT INTO audit_log (lifecycle_id, subscriber_id, at, type, from_state, to_state, detail)
    VALUES (@lifecycle_id, @subscriber_id, @at, @type, @from_state, @to_state, @detail)`);
  const word = wordEncoder(new Map(db.prepare<[], { code: number; word: string }>('SELECT code, word FROM audit_words').all().map((r) => [r.word, r.code])));
  // The detail is stored compact and read back as the JSON text it was written as (store/audit-codec.ts).
  // A batch's entries come in runs of one lifecycle at one time (an allocation made at once: two): each is encoded once a run.
  let lastId: [string, string | Buffer] = ['', ''];
  let lastAt: [string, string | bigint] = ['', ''];
  const insertAudit = {
    run: (a: AuditEntry, detail?: object) => {
      if (lastId[0] !== a.lifecycle_id) lastId = [a.lifecycle_id, encodeLifecycleId(a.lifecycle_id)];
      if (lastAt[0] !== a.at) lastAt = [a.at, encodeAt(a.at)];
      return insertAuditRow.run({
        lifecycle_id: lastId[1],
        subscriber_id: a.subscriber_id,
        at: lastAt[1],
        type: word(a.type),
        from_state: word(a.from_state),
        to_state: word(a.to_state),
        detail: encodeAuditDetail(a.detail, a.to_state, a.from_state, detail),
      });
    },
  };
  const selectById = db.prepare<[string], LifecycleRow>('SELECT * FROM lifecycles WHERE id = ?');
  const selectLive = db.prepare<[string], LifecycleRow>(
    "SELECT * FROM lifecycles WHERE subscriber_id = ? AND state <> 'revoked'",
  );
  // The live lifecycle (lifecycles_live_subscriber) beside the newest revoked one
  // (lifecycles_revoked_subscriber, migration 013), the newer of the two: at most two rows sorted.
  const selectLatest = db.prepare<{ subscriber_id: string }, LifecycleRow>(`
    SELECT * FROM lifecycles WHERE subscriber_id = @subscriber_id AND state <> 'revoked'
    UNION ALL
    SELECT * FROM (SELECT * FROM lifecycles WHERE subscriber_id = @subscriber_id AND state = 'revoked' ORDER BY created_at DESC, id DESC LIMIT 1)
    ORDER BY created_at DESC, id DESC LIMIT 1`);
  const page = pageQueries(db);
  const selectBusy = db.prepare<[], { id: string }>('SELECT id FROM lifecycles WHERE busy = 1');
  const selectDue = {
    first: db.prepare<{ now: string; limit: number }, DueRow>(DUE_FIRST),
    next: db.prepare<{ now: string; limit: number; at: string; id: string }, DueRow>(DUE_NEXT),
  };
  const selectDueCount = db.prepare<{ now: string; limit: number }, { n: number }>(DUE_COUNT);
  const selectNewerOnCpe = db.prepare<{ cpe_id: string; since: string }, { id: string }>(NEWER_ON_CPE);
  // lifecycles_live_username (migration 016): a seek, whatever the history holds.
  const selectUsernameHolder = db.prepare<{ username: string; subscriber_id: string }, { subscriber_id: string }>(
    "SELECT subscriber_id FROM lifecycles WHERE username = @username AND state <> 'revoked' AND subscriber_id <> @subscriber_id LIMIT 1",
  );
  // lifecycles_live_username_folded (migration 017): the same seek on the folded expression.
  const selectFoldedUsernameHolder = db.prepare<{ username: string; subscriber_id: string }, { subscriber_id: string }>(
    "SELECT subscriber_id FROM lifecycles WHERE lower(rtrim(username, ' ')) = lower(rtrim(@username, ' ')) AND username IS NOT NULL AND state <> 'revoked' AND subscriber_id <> @subscriber_id LIMIT 1",
  );
  const selectShared = db.prepare<[], { prefix: string; ids: string }>(SHARED_PREFIXES);
  const selectPrefixHolder = db.prepare<{ prefix: string; id: string }, Pick<LifecycleRow, 'id' | 'subscriber_id' | 'state'>>(
    "SELECT id, subscriber_id, state FROM lifecycles WHERE prefix = @prefix AND state <> 'revoked' AND id <> @id LIMIT 1",
  );
  const selectHolder = db.prepare<[string], LifecycleHolder>(`SELECT ${HOLDER_COLUMNS} FROM lifecycles WHERE id = ?`);
  const holdersBy = (by: HolderKey) => db.prepare<[string], LifecycleHolder>(HOLDERS_OF[by]);
  const selectHolders = { id: holdersBy('id'), subscriber_id: holdersBy('subscriber_id'), prefix: holdersBy('prefix'), username: holdersBy('username') };
  const holders = {
    first: db.prepare<{ state: string; limit: number }, LifecycleHolder & ListCursor>(
      'SELECT id, subscriber_id, state, busy, pool, prefix, username, created_at FROM lifecycles WHERE state = @state ORDER BY created_at, id LIMIT @limit',
    ),
    next: db.prepare<{ state: string; limit: number; created_at: string; id: string }, LifecycleHolder & ListCursor>(
      'SELECT id, subscriber_id, state, busy, pool, prefix, username, created_at FROM lifecycles WHERE state = @state AND (created_at, id) > (@created_at, @id) ORDER BY created_at, id LIMIT @limit',
    ),
  };
  // Counts kept by the triggers of migration 006 in each write's transaction (store/counts.ts): no scan.
  const selectPendingCount = db.prepare<[], { n: number }>("SELECT coalesce((SELECT n FROM lifecycle_counts WHERE key = 'pending'), 0) AS n");
  const selectCounts = db.prepare<[], { state: string; n: number }>(
    "SELECT substr(key, 7) AS state, n FROM lifecycle_counts WHERE key >= 'state:' AND key < 'state;' AND n > 0",
  );
  const selectEvents = db.prepare<[string], AuditEntry>('SELECT lifecycle_id, subscriber_id, at, type, from_state, to_state, detail FROM audit WHERE subscriber_id = ? ORDER BY seq');
  // audit_subscriber (subscriber_id) ends with the rowid, which seq is: both are seeks on it (migration 013).
  const selectLastSeq = db.prepare<[string], { seq: number }>('SELECT seq FROM audit_log WHERE subscriber_id = ? ORDER BY seq DESC LIMIT 1');
  const selectEventsAfter = db.prepare<[string, number], AuditEntry>(
    'SELECT lifecycle_id, subscriber_id, at, type, from_state, to_state, detail FROM audit WHERE subscriber_id = ? AND seq > ? ORDER BY seq',
  );
  const decoded = (e: AuditEntry) => Object.assign(e, { detail: decodeAuditDetail(e.detail, e.to_state, e.from_state) });
  const saveTx = db.transaction((row: LifecycleRow, audit: AuditEntry | null) => {
    upsert.run(row);
    if (audit) insertAudit.run(audit);
  });
  // One transaction function for every caller: better-sqlite3 builds a wrapper per db.transaction() call.
  const inTransaction = db.transaction((fn: () => unknown) => fn());
  const writeItems = (items: readonly SaveItem[]) => {
    for (const { row, audit, rowStored, detail } of items) {
      if (!rowStored) upsert.run(row);
      insertAudit.run(audit, detail);
    }
  };
  const saveBatchTx = db.transaction(writeItems);

  return {
    save: (row, audit) => saveTx(row, audit),
    saveBatch: (items) => saveBatchTx(items),
    writeBatch: (items) => {
      if (!db.inTransaction) throw new Error('writeBatch() outside a transaction');
      writeItems(items);
    },
    transaction: (fn) => inTransaction(fn) as ReturnType<typeof fn>,
    get: (id) => selectById.get(id),
    live: (subscriberId) => selectLive.get(subscriberId),
    latest: (subscriberId) => selectLatest.get({ subscriber_id: subscriberId }),
    list: (q) => page(q),
    busy: () => selectBusy.all().map((r) => r.id),
    duePending: (now, limit, after) => (after ? selectDue.next.all({ now, limit, at: after.next_pending_at, id: after.id }) : selectDue.first.all({ now, limit })),
    newerOnCpe: (cpeId, than) => selectNewerOnCpe.get({ cpe_id: cpeId, since: than.activated_at ?? than.created_at })?.id ?? null,
    usernameHolder: (username, exceptSubscriberId, folded = false) =>
      (folded ? selectFoldedUsernameHolder : selectUsernameHolder).get({ username, subscriber_id: exceptSubscriberId })?.subscriber_id ?? null,
    countPending: () => selectPendingCount.get()!.n,
    countDue: (now, limit) => selectDueCount.get({ now, limit })!.n,
    prefixHolder: (prefix, exceptLifecycleId) => selectPrefixHolder.get({ prefix, id: exceptLifecycleId }) ?? null,
    sharedPrefixes: () => selectShared.all().map((r) => ({ prefix: r.prefix, lifecycle_ids: r.ids.split(',') })),
    holder: (id) => selectHolder.get(id),
    holdersOf: (by, values) => (values.length === 0 ? [] : selectHolders[by].all(JSON.stringify(values))),
    heldPage: (state, limit, after) =>
      after ? holders.next.all({ state, limit, created_at: after.created_at, id: after.id }) : holders.first.all({ state, limit }),
    countByState: () => Object.fromEntries(selectCounts.all().map((r) => [r.state, r.n])),
    events: (subscriberId) => selectEvents.all(subscriberId).map(decoded),
    lastSeq: (subscriberId) => selectLastSeq.get(subscriberId)?.seq ?? 0,
    eventsAfter: (subscriberId, seq) => selectEventsAfter.all(subscriberId, seq).map(decoded),
  };
}
