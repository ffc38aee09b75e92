// Review 12: GET /lifecycle walked page by page on the embedded SQLite store while three clients
// change other lifecycles and create new ones (test/review12/paging-walk.ts says what is checked),
// then GET /metrics states against the list, a cursor across filters and past a deleted lifecycle.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { startService, type Service } from '../review7/support.ts';
import { churn, contended, cursorAcrossFilters, cursorPastDeleted, eventsAgree, FILTERS, POOLS, seed, snapshot, statesAgree, threeLifecycles, walk, type Call } from './paging-walk.ts';

const test = suite('review12: the list walked while lifecycles change (SQLite)');
let svc: Service;
let call: Call;
test.before(async () => {
  svc = await startService(() => ({ pools: POOLS }));
  call = (method, path, body) => (method === 'GET' ? svc.get(path) : svc.post(path, body));
});
test.after(async () => svc.close());

test('GET /lifecycle?state=&pool=&order=&limit=&cursor= while others change → untouched ones once each, none twice, filters exact, pages bounded; then /metrics states = the list per state', async () => {
  const stableIds = new Set(await seed([call], 'stable', 48));
  const moving = await seed([call], 'moving', 24);
  const before = await snapshot(call);
  const stable = new Map([...before].filter(([, l]) => stableIds.has(l.subscriber_id)));
  const kept = [...stable.values()].filter((l) => l.state === 'active').map((l) => l.subscriber_id);
  const writers = churn([call], 'moving', moving, kept);
  let pages = 0;
  try {
    await Promise.all([threeLifecycles([call], 'trail-a'), threeLifecycles([call], 'trail-b')]);
    for (const f of FILTERS) for (const order of ['desc', 'asc'] as const) pages += await walk(call, f, order, 5, stable);
    pages += await walk(call, { state: 'suspended' }, 'asc', 1, stable);
    pages += await walk(call, {}, 'desc', 1000, stable);
    for (const limit of ['0', '1001', '-1', '2.5']) {
      const r = await call('GET', `lifecycle?limit=${limit}`);
      assert.equal([r.status, r.body.error?.field], [400, 'limit'], `limit=${limit}`);
    }
  } finally {
    const sent = await writers.stop();
    console.log(`  sqlite: ${pages} pages walked while ${sent} operations ran`);
    assert.ok(sent > 20, `only ${sent} operations ran during the walks`);
  }
  const after = await snapshot(call);
  for (const [id, l] of stable) assert.equal({ state: after.get(id)?.state, pool: after.get(id)?.pool }, { state: l.state, pool: l.pool }, `${l.subscriber_id} was left alone`);
  await statesAgree(call);
  await contended([call], 'contended', 4);
  for (const id of ['trail-a', 'trail-b']) await eventsAgree(call, id, 3);
  await eventsAgree(call, 'contended', 1);
  await statesAgree(call);
});

test('a cursor sent with another filter, and a cursor whose lifecycle retention deleted → the list goes on from its position', async () => {
  await cursorAcrossFilters(call);
  const db = new Database(join(svc.dir, 'l.sqlite'));
  try {
    await cursorPastDeleted(call, call, async (id) => void db.prepare(`UPDATE lifecycles SET revoked_at = '2020-01-01T00:00:00.000Z' WHERE id = ?`).run(id));
  } finally {
    db.close();
  }
});

test.run();
