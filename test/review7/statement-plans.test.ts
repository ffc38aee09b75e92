// Review 7: the cost of a request at ISP scale, read from SQLite's plans (EXPLAIN QUERY PLAN) of
// the very statements each request runs, as the service prepared them, on its own database after
// some churn. Plans do not depend on the data here (the service never runs ANALYZE), so what a
// plan reads per request is what it reads with a million lifecycles. No timing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { queryPlan, rowsRead, startService, type Service } from './support.ts';

const test = suite('review7: what each request reads, from the plans of its statements');
let svc: Service;
const POOLS = [
  { name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, hold_down_s: 600 },
  { name: 'business', prefix: '2001:db8:1000::/40', prefix_length: 48, hold_down_s: 0, sticky: false },
];

test.before(async () => {
  svc = await startService(() => ({ pools: POOLS }));
  for (let i = 0; i < 20; i++) {
    const id = `old-${i}`;
    await svc.post('allocate', { subscriber_id: id, pool: i % 2 ? 'business' : 'residential' });
    await svc.post('activate', { subscriber_id: id, username: id });
    if (i % 3 === 0) await svc.post('revoke', { subscriber_id: id });
  }
});
test.after(async () => svc.close());

/** The statements `fn` ran (temp tables live on the service's connection only: left out) and their plans. */
async function plansOf(fn: () => Promise<unknown>): Promise<Array<{ sql: string; plan: string[] }>> {
  const { by } = await rowsRead(fn);
  return [...by.keys()].filter((sql) => !/\btemp\./.test(sql)).map((sql) => ({ sql, plan: queryPlan(svc.composed.db, sql) }));
}

/** Steps of a plan that read a whole table or a whole pool's rows. */
function wholeReads({ sql, plan }: { sql: string; plan: string[] }): string[] {
  return plan.filter(
    (step) =>
      /^SCAN (?!\(|CONSTANT)/.test(step) ||
      /TEMP B-TREE/.test(step) ||
      // The pool alone bounds nothing: a pool is most of the table. Fine only when one row is taken in index order.
      (/ USING (?:COVERING )?(?:INDEX \w+|PRIMARY KEY) \(pool=\?\)$/.test(step) && !/LIMIT 1$/.test(sql)),
  );
}

// services/ipam/embedded-quarantine.ts `ofSubscriber` and `expiredOfPool`, which name their index
// (INDEXED BY): each seeks, and its TEMP B-TREE FOR ORDER BY sorts only what the seek found, which
// is bounded: the subscriber's own quarantined blocks (ipam_quarantine_subscriber), and the pool's
// blocks whose hold-down ended since the pool's last allocation or sweep (ipam_quarantine_expiry:
// takeExpired deletes what it reads). Listed by their text: once changed, they are checked like the others.
const KNOWN = new Set([
  'SELECT prefix FROM ipam_quarantine INDEXED BY ipam_quarantine_subscriber WHERE pool = @pool AND subscriber_id = @subscriber_id AND freed_at IS NOT NULL ORDER BY released_at DESC',
  'SELECT prefix, start_hex FROM ipam_quarantine INDEXED BY ipam_quarantine_expiry WHERE pool = @pool AND reusable_at <= @now ORDER BY start_hex LIMIT @limit',
]);

test('held: every statement of allocate, activate, suspend, reactivate, update, revoke, a sticky re-allocation, a keyed replay and the GETs of one subscriber is an index seek', async () => {
  const plans = await plansOf(async () => {
    for (const pool of ['residential', 'business']) {
      const id = `one-${pool}`;
      const ok = (r: { status: number; text: string }) => assert.ok(r.status < 300, `${id}: ${r.status} ${r.text.slice(0, 160)}`);
      ok(await svc.post('allocate', { subscriber_id: id, pool }, { 'idempotency-key': `${id}-a` }));
      ok(await svc.post('allocate', { subscriber_id: id, pool }, { 'idempotency-key': `${id}-a` }));
      ok(await svc.post('activate', { subscriber_id: id, username: id, cpe_id: `CPE-${pool}` }));
      ok(await svc.post('suspend', { subscriber_id: id, reason: 'unpaid' }));
      ok(await svc.post('reactivate', { subscriber_id: id }));
      ok(await svc.post('update', { subscriber_id: id }));
      ok(await svc.post('revoke', { subscriber_id: id }));
      ok(await svc.post('allocate', { subscriber_id: id, pool }));
      ok(await svc.get(`lifecycle/${id}`));
      ok(await svc.get(`lifecycle/${id}/events`));
    }
  });
  assert.ok(plans.length > 20, `${plans.length} statements seen`);
  const bad = plans.filter((p) => !KNOWN.has(p.sql) && wholeReads(p).length > 0);
  assert.equal(bad.map((p) => `${p.sql} → ${p.plan.join(' | ')}`), []);
  // The known ones still run, seek, and read nothing whole but their sort.
  const known = plans.filter((p) => KNOWN.has(p.sql));
  assert.is(known.length, KNOWN.size, `known statements seen: ${known.map((p) => p.sql).join('\n')}`);
  for (const p of known) assert.equal(wholeReads(p), ['USE TEMP B-TREE FOR ORDER BY'], `${p.sql} → ${p.plan.join(' | ')}`);
});

test('GET /lifecycle?state=&pool= seeks on both filters instead of walking the whole pool', async () => {
  // What a user sees: an orchestrator polling `?state=failed&pool=residential` (API.md lists
  // `GET /lifecycle?state=&pool=&limit=&cursor=`) gets a page whose cost grows with every
  // lifecycle the pool ever had: store/lifecycles.ts listSql() filters state on the rows of
  // lifecycles_pool (pool, created_at, id), and revoked ones stay 90 days (retention_days), so a
  // pool with a million revoked lifecycles and no failed one reads a million rows to answer [].
  // Expected: an index on (state, pool, created_at, id) (or pool first) that serves both.
  for (const order of ['desc', 'asc']) {
    const plans = await plansOf(async () => {
      const r = await svc.get(`lifecycle?state=failed&pool=residential&order=${order}`);
      assert.is(r.status, 200, r.text.slice(0, 200));
    });
    const list = plans.find((p) => /FROM lifecycles WHERE state = @state AND pool = @pool/.test(p.sql));
    assert.ok(list, `the list statement: ${plans.map((p) => p.sql).join('\n')}`);
    const seek = list!.plan.some((s) => /\((?:state=\? AND pool=\?|pool=\? AND state=\?)/.test(s));
    assert.ok(seek, `order=${order}: ${list!.sql} → ${list!.plan.join(' | ')}`);
  }
});

test('a Prometheus scrape reads the last 7 days of pool_tally, not every hour the service has lived', async () => {
  // What a user sees: each scrape of GET /metrics (ipv6_pool_exhaustion_forecast_seconds) gets
  // slower as the service ages. store/counts.ts `flows` asks `WHERE hour >= ?` of a table keyed
  // (pool, hour, prefix_length), which SQLite answers with a SCAN of pool_tally, and nothing ever
  // deletes from pool_tally: one row per pool, length and hour of activity, for ever (87,600 a
  // year with 10 pools of one length). Migration 006 says "the exhaustion forecast reads the last
  // 7 days (168 rows per pool and length)". Expected: a seek on hour (an index on it, or pool
  // first with a bound per pool), or old hours pruned.
  const plans = await plansOf(async () => {
    const r = await svc.get('/metrics');
    assert.is(r.status, 200);
  });
  const flows = plans.find((p) => /FROM pool_tally/.test(p.sql));
  assert.ok(flows, `the forecast statement: ${plans.map((p) => p.sql).join('\n')}`);
  assert.equal(flows!.plan.filter((s) => /^SCAN pool_tally/.test(s)), [], `${flows!.sql} → ${flows!.plan.join(' | ')}`);
});

test.run();
