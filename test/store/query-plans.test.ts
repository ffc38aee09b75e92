// Every query the runtime issues against the lifecycles (the list filters, the leak check's walk,
// the clean-up's and the pending worker's reads, the figures) reads through an index: EXPLAIN
// QUERY PLAN says so. A scan of a million rows is seconds of a stalled event loop.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LIFECYCLE_STATES } from '../../machines/types.ts';
import { createEmbeddedIpam } from '../../services/ipam/embedded.ts';
import { createMetricCounts } from '../../store/counts.ts';
import { openDatabase, type Db } from '../../store/db.ts';
import { createIdempotencyStore } from '../../store/idempotency.ts';
import { createLifecycleStore, listSql, SHARED_PREFIXES } from '../../store/lifecycles.ts';
import { createPoolUse } from '../../store/pool-use.ts';
import { createAuditRetention } from '../../store/audit-retention.ts';
import { createHeldScratch } from '../../store/held-scratch.ts';

const test = suite('store query plans');

/** The plan's lines of one statement, its parameters bound to placeholder text. */
function plan(db: Db, sql: string): string[] {
  const named = [...new Set([...sql.matchAll(/@(\w+)/g)].map((m) => m[1]!))];
  const args: unknown[] = named.length ? [Object.fromEntries(named.map((n) => [n, 'x']))] : Array((sql.match(/\?/g) ?? []).length).fill('x');
  return db
    .prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
    .all(...args)
    .map((r) => r.detail);
}

/** Every statement the stores and the embedded IPAM prepare, as they prepare them. */
function preparedStatements(): { db: Db; statements: string[] } {
  const db = openDatabase(':memory:');
  const statements: string[] = [];
  const prepare = db.prepare.bind(db);
  (db as { prepare: unknown }).prepare = (sql: string) => {
    statements.push(sql);
    return prepare(sql);
  };
  createLifecycleStore(db);
  createMetricCounts(db);
  createPoolUse(db);
  createIdempotencyStore(db);
  createAuditRetention(db);
  createHeldScratch(db);
  createEmbeddedIpam(db, [{ name: 'p', prefix: '2001:db8::/32', prefixLength: 56 }]);
  (db as { prepare: unknown }).prepare = prepare;
  return { db, statements };
}

const reads = (sql: string) => /^\s*(SELECT|UPDATE|DELETE|WITH)\b/i.test(sql);

test('no statement on lifecycles or audit scans the table without an index', () => {
  const { db, statements } = preparedStatements();
  const checked = statements.filter((s) => reads(s) && /\b(lifecycles|audit|audit_log)\b/.test(s));
  assert.ok(checked.length >= 12, `found ${checked.length} statements`);
  for (const sql of checked) {
    for (const line of plan(db, sql)) {
      assert.not.match(line, /^SCAN (lifecycles|audit|audit_log|l|a)$/, `${sql.trim()}\n  ${line}`);
    }
  }
});

test('the leak check, the clean-up and the pending worker search their rows by an index', () => {
  const { db, statements } = preparedStatements();
  const wanted = [
    /WHERE id = \?/, // holder(), get()
    /WHERE busy = 1/, // start-up recovery
    /next_pending_at <= @now/, // the pending worker
    /\(next_pending_at, id\) > \(@at, @id\)/, // and its next pages (migration 021)
    /WHERE state = @state ORDER BY created_at/, // the leak check's walk, first page
    /WHERE state = @state AND \(created_at, id\) >/, // and the next ones
    /WHERE state = 'failed' ORDER BY created_at, id LIMIT @limit/, // the leak counter's pages (review 18)
    /WHERE state = 'failed' AND \(created_at, id\) > \(@created_at, @id\)/, // and the next ones
  ];
  for (const re of wanted) {
    const sql = statements.find((s) => re.test(s));
    assert.ok(sql, `no statement matches ${re}`);
    const lines = plan(db, sql!);
    assert.ok(lines.some((l) => /^SEARCH lifecycles USING (COVERING )?INDEX/.test(l)), `${sql}\n  ${lines.join(' | ')}`);
    assert.not.ok(lines.some((l) => /TEMP B-TREE/.test(l)), `${sql}\n  ${lines.join(' | ')}`);
  }
});

test('sharedPrefixes() reads only shared prefixes: shared_prefixes (migration 013), then lifecycles by prefix', () => {
  const { db } = preparedStatements();
  const lines = plan(db, SHARED_PREFIXES);
  assert.ok(lines.some((l) => /^SCAN p$/.test(l)), lines.join(' | '));
  assert.ok(lines.some((l) => /^SEARCH l USING (COVERING )?INDEX lifecycles_live_prefix \(prefix=\?\)/.test(l)), lines.join(' | '));
});

test('prefixHolder() seeks lifecycles_live_prefix (migration 009): the allocation guard reads one index entry', () => {
  const { db, statements } = preparedStatements();
  const sql = statements.find((s) => /WHERE prefix = @prefix AND state <> 'revoked' AND id <> @id/.test(s));
  assert.ok(sql, 'prefixHolder has a statement');
  const lines = plan(db, sql!);
  assert.ok(lines.some((l) => /^SEARCH lifecycles USING INDEX lifecycles_live_prefix \(prefix=\?\)/.test(l)), lines.join(' | '));
});

test('lastSeq() and eventsAfter() seek audit_subscriber (its rowid is seq): a keyed request\'s mark, a resume\'s read, no sort', () => {
  const { db, statements } = preparedStatements();
  for (const re of [/FROM audit_log WHERE subscriber_id = \? ORDER BY seq DESC LIMIT 1/, /FROM audit WHERE subscriber_id = \? AND seq > \? ORDER BY seq/]) {
    const sql = statements.find((s) => re.test(s));
    assert.ok(sql, `no statement matches ${re}`);
    const lines = plan(db, sql!);
    assert.ok(lines.some((l) => /^SEARCH (audit_log|a) USING (COVERING )?INDEX audit_subscriber \(subscriber_id=\?/.test(l)), lines.join(' | '));
    assert.not.ok(lines.some((l) => /TEMP B-TREE/.test(l)), lines.join(' | '));
  }
});

test("the shared-prefix triggers count a prefix's live lifecycles by the partial index (migration 013)", () => {
  const { db } = preparedStatements();
  const triggers = db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%shared_prefixes%'").all();
  const counts = [...new Set(triggers.flatMap((t) => [...t.sql.matchAll(/SELECT count\(\*\) FROM lifecycles WHERE prefix = (NEW|OLD)\.prefix AND state <> 'revoked'/g)].map((m) => m[0])))];
  assert.is(counts.length, 2, triggers.map((t) => t.sql).join('\n'));
  for (const sql of counts) {
    const lines = plan(db, sql.replace(/(NEW|OLD)\.prefix/, '@prefix'));
    assert.ok(lines.some((l) => /^SEARCH lifecycles USING (COVERING )?INDEX lifecycles_live_prefix \(prefix=\?\)/.test(l)), lines.join(' | '));
  }
});

test('every list filter, order and cursor is served by an index without a sort', () => {
  const { db } = preparedStatements();
  const after = { created_at: 'x', id: 'x' };
  for (const state of [undefined, 'active']) {
    for (const pool of [undefined, 'p']) {
      for (const cursor of [undefined, after]) {
        for (const order of ['asc', 'desc'] as const) {
          const sql = listSql({ state, pool, after: cursor, order });
          const lines = plan(db, sql);
          const where = `${sql}\n  ${lines.join(' | ')}`;
          assert.not.ok(lines.some((l) => /TEMP B-TREE/.test(l)), where);
          const reads = lines.filter((l) => /^(SCAN|SEARCH) /.test(l));
          // Both filters: one seek on both (migration 014), not a walk of the pool's or the state's rows.
          if (state && pool) assert.equal(reads.map((l) => l.replace(/ AND \(created_at.*/, ')')), ['SEARCH lifecycles USING INDEX lifecycles_pool (pool=? AND state=?)'], where);
          else if (state) assert.equal(reads.map((l) => l.replace(/ AND \(created_at.*/, ')')), ['SEARCH lifecycles USING INDEX lifecycles_state (state=?)'], where);
          else {
            // One leg per state, merged in order (migrations 013, 014): through lifecycles_state, or
            // lifecycles_pool on both with a pool. No other read.
            assert.ok(lines.some((l) => /MERGE \(UNION ALL\)/.test(l)), where);
            assert.is(reads.length, LIFECYCLE_STATES.length, where);
            const leg = pool ? /^SEARCH lifecycles USING INDEX lifecycles_pool \(pool=\? AND state=\?/ : /^SEARCH lifecycles USING INDEX lifecycles_state \(state=\?/;
            for (const l of reads) assert.match(l, leg, where);
          }
        }
      }
    }
  }
});

test("the exhaustion forecast reads pool_tally's last hours by the hour's index; a new hour prunes the old ones by it", () => {
  const { db, statements } = preparedStatements();
  const flows = statements.find((s) => /FROM pool_tally\b/.test(s) && /hour >= \?/.test(s));
  assert.ok(flows, 'the forecast statement');
  const lines = plan(db, flows!);
  assert.ok(lines.some((l) => /^SEARCH pool_tally USING INDEX pool_tally_hour \(hour>\?\)$/.test(l)), lines.join(' | '));
  assert.not.ok(lines.some((l) => /^SCAN /.test(l)), lines.join(' | '));
  // The trigger of migration 014: its delete, as a statement of its own (NEW.hour as a parameter).
  const trigger = db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'pool_tally_window'").get()!.sql;
  const prune = /DELETE FROM pool_tally WHERE [^;]+/.exec(trigger)![0].replaceAll('NEW.hour', '@hour');
  assert.equal(plan(db, prune), ['SEARCH pool_tally USING INDEX pool_tally_hour (hour<?)']);
});

test("the leak check's scratch of IPAM holdings is looked up by its primary key", () => {
  const { db, statements } = preparedStatements();
  const sql = statements.find((s) => /SELECT 1 AS one FROM temp.leak_check_seen/.test(s))!;
  assert.ok(plan(db, sql).some((l) => /^SEARCH (temp\.)?leak_check_seen USING PRIMARY KEY \(pool=\? AND prefix=\?\)/.test(l)), plan(db, sql).join(' | '));
});

test('audit pruning walks the trail by its primary key, a batch at a time', () => {
  const { db, statements } = preparedStatements();
  const sql = statements.find((s) => /FROM audit/.test(s) && /seq > @after/.test(s));
  assert.ok(sql, 'the pruning walk');
  const lines = plan(db, sql!);
  assert.ok(lines.some((l) => /^SEARCH (audit|a) USING INTEGER PRIMARY KEY \(rowid>\?\)/.test(l)), lines.join(' | '));
});

// A primary key searched by its (pool) prefix alone reads every row of the pool: ipam_quarantine
// holds every block released and not yet reusable (hold-downs, revocations waiting on an offline
// CPE), and a statement that reads it so on each allocation made one cost 1.7 ms at 8,000 rows.
// These walk a pool by design, each for a reason, and nothing else may.
const WHOLE_POOL_BY_DESIGN: Array<[RegExp, string]> = [
  [/FROM ipam_free WHERE pool = @pool ORDER BY start_hex$/, 'first fit: from the first run until one fits (none passed in a pool of one length)'],
  [/^DELETE FROM ipam_free WHERE pool = @pool$/, "a pool's free space rebuilt, at start-up, when its parent changed"],
  [/^SELECT \(SELECT parent FROM ipam_pools WHERE pool = @pool\) AS parent, max\(prefix_length\)/, 'the longest block a pool no longer configured still holds, once at start-up, for its figures'],
  [/^SELECT EXISTS \(SELECT 1 FROM ipam_blocks WHERE pool = @pool\)/, 'whether a draining pool still holds a block: its first row ends it (freed ones passed over)'],
  [/FROM ipam_quarantine NOT INDEXED WHERE pool = @pool ORDER BY start_hex LIMIT @budget\)/, "a batch when SORT_AT_MOST or more have expired: the pool's lowest SORT_AT_MOST blocks at most, in address order"],
];

test("the embedded IPAM reads no table of a pool whole, but where its design walks it", () => {
  const { db, statements } = preparedStatements();
  const checked = statements.filter((s) => reads(s) && /\bipam_(quarantine|allocations|free)\b/.test(s));
  assert.ok(checked.length >= 15, `found ${checked.length} statements`);
  // ipam_pools is keyed by the pool alone: (pool=?) is its one row, the figures migration 015 keeps.
  const wholePool = (line: string) => /^SEARCH ipam_(?!pools )\w+ USING (PRIMARY KEY|INDEX \w+) \(pool=\?\)$/.test(line);
  const found = checked.filter((sql) => !/LIMIT 1$/.test(sql.trim()) && plan(db, sql).some(wholePool)).map((sql) => sql.trim().replace(/\s+/g, ' '));
  const unexplained = found.filter((sql) => !WHOLE_POOL_BY_DESIGN.some(([re]) => re.test(sql)));
  assert.equal(unexplained, [], unexplained.map((sql) => `${sql}\n  ${plan(db, sql).join(' | ')}`).join('\n'));
  // Each exception is still there (a stale one would excuse a new statement that matched it).
  for (const [re, why] of WHOLE_POOL_BY_DESIGN) assert.ok(found.some((sql) => re.test(sql)), `no statement walks a pool for: ${why}`);
});

test('the quarantine an allocation consults is searched by its expiry and by subscriber', () => {
  const { db, statements } = preparedStatements();
  const expiry = statements.find((s) => /^\s*SELECT prefix(?:, start_hex)? FROM ipam_quarantine\b/.test(s) && /reusable_at <= @now/.test(s))!;
  assert.ok(plan(db, expiry).some((l) => /USING INDEX ipam_quarantine_expiry \(pool=\? AND reusable_at<\?\)/.test(l)), plan(db, expiry).join(' | '));
  const sticky = statements.find((s) => /FROM ipam_quarantine\b/.test(s) && /subscriber_id = @subscriber_id/.test(s))!;
  assert.ok(plan(db, sticky).some((l) => /USING INDEX ipam_quarantine_subscriber \(pool=\? AND subscriber_id=\?\)/.test(l)), plan(db, sticky).join(' | '));
});

test("utilization() reads the blocks past their hold-down by the expiry index, and their units by key (migration 015)", () => {
  const { db, statements } = preparedStatements();
  const sql = statements.find((s) => /^\s*WITH expired AS/.test(s))!;
  const lines = plan(db, sql);
  assert.ok(lines.some((l) => /^SEARCH ipam_quarantine USING INDEX ipam_quarantine_expiry \(pool=\? AND reusable_at<\?\)/.test(l)), lines.join(' | '));
  assert.ok(lines.some((l) => /^SEARCH s USING PRIMARY KEY \(pool=\? AND unit=\?\)/.test(l)), lines.join(' | '));
  assert.not.ok(lines.some((l) => /^SEARCH s USING PRIMARY KEY \(pool=\?\)$/.test(l)), lines.join(' | '));
});

test.run();
