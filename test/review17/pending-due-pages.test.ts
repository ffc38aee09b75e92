// Review 17 (issue 10): the pending worker read every due lifecycle in one statement (20,000: 42–83 ms
// of one turn of the loop) and sorted them in the same turn. Now it reads DUE_PAGE at a time, each
// page after the last (next_pending_at, id) of the one before, on lifecycles_next_pending (SQLite
// migration 021, PostgreSQL 012): the pages together are the due set, in order, each row once, ties
// of next_pending_at included; each statement a seek without a sort.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ActorHost } from '../../runtime/actor-host.ts';
import { createPendingWorker, DUE_PAGE } from '../../runtime/pending-worker.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore, DUE_COUNT as SQLITE_DUE_COUNT, DUE_FIRST as SQLITE_DUE_FIRST, DUE_NEXT as SQLITE_DUE_NEXT, type DueCursor, type DueRow } from '../../store/lifecycles.ts';
import { DUE_COUNT, DUE_FIRST, DUE_NEXT } from '../../store/postgresql/lifecycles.ts';
import { countPerTurn } from '../support/event-loop.ts';
import { lifecycleRow } from '../support/lifecycle-rows.ts';
import { explained, withMigratedClient } from '../support/pg-migrated.ts';
import { postgresAvailable } from '../support/postgres.ts';

const test = suite('review17: the pending worker reads the due lifecycles a page at a time');
const NOW = '2026-06-01T00:00:00.000Z';
const N = 3 * DUE_PAGE + 7;

/** Row i: due at one of five moments (many ties), not due yet, or nothing pending; ids not in insertion order. */
function field(n: number): { id: string; next_pending_at: string | null }[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `lc-${((i * 7919) % n).toString(36)}-${i}`;
    const next_pending_at = i % 10 === 9 ? '2026-07-01T00:00:00.000Z' : i % 10 === 8 ? null : `2026-05-0${1 + (i % 5)}T00:00:00.000Z`;
    return { id, next_pending_at };
  });
}

const byKey = (a: DueCursor, b: DueCursor) => (a.next_pending_at < b.next_pending_at ? -1 : a.next_pending_at > b.next_pending_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

async function walk(page: (after?: DueCursor) => DueRow[] | Promise<DueRow[]>): Promise<DueRow[]> {
  const got: DueRow[] = [];
  for (let after: DueCursor | undefined; ; ) {
    const rows = await page(after);
    got.push(...rows);
    if (rows.length < DUE_PAGE) return got;
    after = rows.at(-1);
  }
}

test(`SQLite: ${N} rows, pages of DUE_PAGE are the due set in (next_pending_at, id) order, each once; both statements seek the index`, async () => {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  const rows = field(N);
  for (const r of rows) store.save(lifecycleRow(r), null);
  const got = await walk((after) => store.duePending(NOW, DUE_PAGE, after));
  const due = rows.filter((r) => r.next_pending_at !== null && r.next_pending_at <= NOW) as DueCursor[];
  assert.equal(got.map((r) => r.id), [...due].sort(byKey).map((r) => r.id));
  assert.is(new Set(got.map((r) => r.id)).size, due.length);
  assert.is(store.countDue(NOW, 1_000_000), due.length, 'countDue: the due ones, not every pending one');
  assert.is(store.countDue(NOW, 10), 10, 'countDue stops at its limit');
  for (const [sql, args] of [
    [SQLITE_DUE_FIRST, { now: NOW, limit: 5 }],
    [SQLITE_DUE_NEXT, { now: NOW, limit: 5, at: NOW, id: 'x' }],
    [SQLITE_DUE_COUNT, { now: NOW, limit: 5 }],
  ] as const) {
    const lines = db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`).all(args).map((r) => r.detail);
    assert.ok(lines.some((l) => /^SEARCH lifecycles USING (COVERING )?INDEX lifecycles_next_pending \(/.test(l)), lines.join(' | '));
    assert.not.ok(lines.some((l) => /TEMP B-TREE/.test(l)), lines.join(' | '));
  }
  db.close();
});

test('PostgreSQL: the same pages, and DUE_FIRST and DUE_NEXT an index scan on lifecycles_next_pending without a sort', async () => {
  if (!postgresAvailable('PostgreSQL pending pages')) return;
  await withMigratedClient('duepages', async (c) => {
    const rows = field(N);
    await c.query(
      `INSERT INTO lifecycles (id, subscriber_id, state, pool, prefix_length, next_pending_at, created_at, updated_at, snapshot)
       SELECT id, 'sub-' || id, 'active', 'p', 56, n, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '{}' FROM unnest($1::text[], $2::text[]) AS t(id, n)`,
      [rows.map((r) => r.id), rows.map((r) => r.next_pending_at)],
    );
    await c.query('ANALYZE lifecycles');
    // Here most rows are due, a sequential scan's case; at an ISP few are: priced out, as in
    // test/store/postgresql/query-plans, the planner still takes one only where no index serves.
    await c.query('SET enable_seqscan = off');
    await c.query('SET enable_bitmapscan = off');
    for (const [sql, params] of [[DUE_FIRST, [NOW, DUE_PAGE]], [DUE_NEXT, [NOW, DUE_PAGE, '2026-05-02T00:00:00.000Z', 'lc-5']], [DUE_COUNT, [NOW, 50_000]]] as const) {
      const lines = await explained(c, sql, [...params]);
      assert.match(lines, /Index (Only )?Scan using lifecycles_next_pending on lifecycles/, lines);
      assert.not.match(lines, /Seq Scan|\bSort\b/, lines);
    }
    const got = await walk(async (after) => (await c.query<DueRow>(after ? DUE_NEXT : DUE_FIRST, after ? [NOW, DUE_PAGE, after.next_pending_at, after.id] : [NOW, DUE_PAGE])).rows);
    // The columns are COLLATE "C": byte order, as SQLite's.
    const due = rows.filter((r) => r.next_pending_at !== null && r.next_pending_at <= NOW) as DueCursor[];
    assert.equal(got.map((r) => r.id), [...due].sort(byKey).map((r) => r.id));
    assert.is(new Set(got.map((r) => r.id)).size, due.length);
    assert.is((await c.query<{ n: number }>(DUE_COUNT, [NOW, 1_000_000])).rows[0]!.n, due.length);
  });
});

/** A worker over `due` (already in the store's order) whose calls are instant; what it slept, worked and had in flight. */
function rig(due: DueRow[], o: { failPage?: number; spreadFirstMs?: number } = {}) {
  const t = countPerTurn();
  const asked: number[] = [];
  const worked: string[] = [];
  const waits: number[] = [];
  let inFlight = 0;
  const host = {
    exclusive: async (_s: string, fn: () => Promise<unknown>) => {
      inFlight++;
      try {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return await fn();
      } finally {
        inFlight--;
      }
    },
    snapshot: async (id: string) => ({ context: { subscriberId: `sub-${id}`, cpeId: null, current: null, pending: [{ step: 'cpe_configure_pd', key: `${id}:cpe`, attempts: 0, next_attempt_at: null, task_id: null }] } }),
    send: async (id: string, e: { type: string }) => void (e.type === 'PENDING_RESOLVED' && worked.push(id)),
    settle: async () => undefined,
  } as unknown as ActorHost;
  const worker = createPendingWorker({
    store: {
      get: async () => undefined,
      newerOnCpe: async () => null,
      duePending: async (_now, limit, after) => {
        asked.push(limit);
        if (asked.length === o.failPage) throw new Error('database is locked');
        t.count();
        return due.filter((d) => !after || byKey(d, after) > 0).slice(0, limit);
      },
      countDue: async () => due.length,
    },
    host,
    cpe: null,
    log: pino({ level: 'silent' }),
    baseDelayMs: 1000,
    maxDelayMs: 60_000,
    spreadFirstMs: o.spreadFirstMs,
    random: () => 0.5,
    sleep: async (ms) => void waits.push(ms),
  });
  return { worker, t, asked, worked, waits, inFlight: () => inFlight };
}

const dueField = (n: number) =>
  field(n)
    .map((r) => ({ ...r, subscriber_id: `sub-${r.id}`, next_pending_at: '2026-05-01T00:00:00.000Z' }))
    .sort(byKey);

test(`the worker over ${N} due: no page longer than DUE_PAGE, at most one page read per turn, every lifecycle worked on once`, async () => {
  const due = dueField(N);
  const { worker, t, asked, worked } = rig(due);
  assert.is(await worker.tick({ spreadMs: 0 }), N);
  t.stop();
  assert.ok(Math.max(...asked) <= DUE_PAGE, `asked for ${Math.max(...asked)} rows at once`);
  assert.is(asked.length, Math.ceil(N / DUE_PAGE));
  assert.ok(Math.max(...t.turns) <= 1, `${Math.max(...t.turns)} pages read in one turn`);
  assert.equal([...worked].sort(), due.map((d) => d.id).sort());
});

test('the first pass spreads the due ones over the whole interval at an even rate, earliest due first', async () => {
  const due = dueField(2000);
  const { worker, t, waits } = rig(due, { spreadFirstMs: 10_000 });
  assert.is(await worker.tick(), 2000);
  t.stop();
  // The k-th asked waits until (k + 0.5) / 2000 of the interval, less the little time the pass has run.
  assert.is(waits.length, 2000);
  assert.ok(Math.max(...waits) > 9_000, `the last waits ${Math.max(...waits)} ms of 10,000`);
  const sorted = [...waits].sort((a, b) => a - b);
  sorted.forEach((ms, k) => assert.ok(ms <= (10_000 * (k + 0.5)) / 2000 + 1, `wait ${k}: ${ms} ms`));
  assert.ok(sorted[1000]! > 4_000, `the middle one waits ${sorted[1000]} ms`);
});

test('a page that cannot be read ends the pass after the lifecycles in hand are done, not while they run', async () => {
  const due = dueField(N);
  const { worker, t, worked, inFlight } = rig(due, { failPage: 2 });
  assert.is(await worker.tick({ spreadMs: 0 }), DUE_PAGE);
  t.stop();
  assert.is(inFlight(), 0, 'nothing in flight once the pass has ended');
  assert.equal([...worked].sort(), due.slice(0, DUE_PAGE).map((d) => d.id).sort());
});

test.run();
