// PostgreSQL's half of pendcpe-newer-on-cpe-seek: newerOnCpe over 20,000 live lifecycles on one CPE
// (bench/scans.ts benchPending's field) is a backward seek on lifecycles_live_cpe_since (migration 011)
// that stops at the first row: no sequential scan and no sort of the CPE's rows, as the index on
// (cpe_id, created_at) gave. The row it answers is the one activated (else created) last.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NEWER_ON_CPE } from '../../store/postgresql/lifecycles.ts';
import { explained, withMigratedClient } from '../support/pg-migrated.ts';
import { postgresAvailable } from '../support/postgres.ts';

const test = suite('review16 newerOnCpe seek (PostgreSQL)');
const N = 20_000;
const at = (s: number) => new Date(Date.parse('2026-01-01T00:00:00.000Z') + s * 1000).toISOString();

test('PostgreSQL: EXPLAIN of newerOnCpe over 20,000 on one CPE is a backward seek on lifecycles_live_cpe_since, no scan, no sort', async () => {
  if (!postgresAvailable('PostgreSQL newerOnCpe plan')) return;
  await withMigratedClient('newercpe', async (c) => {
    // Even rows were activated, in an order that is not their creation order; odd ones never were.
    const ids = [...Array(N).keys()].map((i) => `l-${i}`);
    const created = ids.map((_, i) => at(i));
    const activated = ids.map((_, i) => (i % 2 === 0 ? at(N + ((i * 7919) % N)) : null));
    await c.query(
      `INSERT INTO lifecycles (id, subscriber_id, state, pool, prefix_length, cpe_id, activated_at, created_at, updated_at, snapshot)
       SELECT id, 'sub-' || id, 'active', 'p', 56, 'cpe', a, cr, cr, '{}' FROM unnest($1::text[], $2::text[], $3::text[]) AS t(id, cr, a)`,
      [ids, created, activated],
    );
    // Later than all of them, but revoked: the partial index does not hold it.
    await c.query(`INSERT INTO lifecycles (id, subscriber_id, state, pool, prefix_length, cpe_id, activated_at, created_at, updated_at, snapshot)
      VALUES ('gone', 'sub-gone', 'revoked', 'p', 56, 'cpe', $1, $1, $1, '{}')`, [at(3 * N)]);
    await c.query('ANALYZE lifecycles');
    const since = at(0);
    const lines = await explained(c, NEWER_ON_CPE, ['cpe', since]);
    assert.not.match(lines, /Seq Scan|\bSort\b|Bitmap/, lines);
    assert.match(lines, /Limit[^\n]*\n\s+->  Index Scan Backward using lifecycles_live_cpe_since on lifecycles[^\n]*\n\s+Index Cond: \(\(cpe_id = 'cpe'::text\) AND \(COALESCE\(activated_at, created_at\) > /, lines);
    const last = activated.reduce<number>((best, a, i) => (a !== null && a > (activated[best] ?? '') ? i : best), 0);
    const got = await c.query<{ id: string }>(NEWER_ON_CPE, ['cpe', since]);
    assert.equal(got.rows, [{ id: `l-${last}` }]);
    assert.equal((await c.query(NEWER_ON_CPE, ['cpe', activated[last]])).rows, [], 'strictly later only');
  });
});

test.run();
