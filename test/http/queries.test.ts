import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { apiMetricsSummary, lifecycleEvents, lifecycleList, lifecycleResource } from '../../http/schemas.ts';
import { BASE, startHarness, type Harness } from './support.ts';

const test = suite('http queries');
let h: Harness;
test.before.each(async () => {
  h = await startHarness();
});
test.after.each(async () => {
  await h.close();
});

/** The answer matches the documented schema exactly: no field missing, none undocumented. */
function conforms(schema: z.ZodObject, body: unknown): void {
  const parsed = z.strictObject(schema.shape).safeParse(body);
  assert.ok(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues));
}

test('GET /lifecycle/{subscriber_id} → 200 the documented resource', async () => {
  const created = await h.post('allocate', { subscriber_id: 'sub-1' });
  const r = await h.get(`${BASE}/lifecycle/sub-1`);
  assert.is(r.status, 200);
  conforms(lifecycleResource, r.body);
  assert.equal(r.body, created.body);
});

test('GET /lifecycle/{subscriber_id} for a subscriber never seen → 404 not_found', async () => {
  const r = await h.get(`${BASE}/lifecycle/nobody`);
  assert.is(r.status, 404);
  assert.equal(r.body, { error: { code: 'not_found', message: 'subscriber nobody has no lifecycle', field: 'subscriber_id' } });
});

test('GET /lifecycle/{subscriber_id} with an id needing escapes → 200, and Location is escaped', async () => {
  const id = 'sub/42 ü?#';
  const created = await h.post('allocate', { subscriber_id: id });
  assert.is(created.status, 201);
  assert.is(created.headers.get('location'), `${BASE}/lifecycle/${encodeURIComponent(id)}`);
  const r = await h.get(created.headers.get('location')!);
  assert.is(r.status, 200);
  assert.is(r.body.subscriber_id, id);
});

test('GET /lifecycle/{subscriber_id}/events → every lifecycle of the subscriber, oldest first', async () => {
  const first = await h.post('allocate', { subscriber_id: 'sub-1' });
  await h.post('activate', { subscriber_id: 'sub-1', username: 'alice' });
  await h.post('revoke', { subscriber_id: 'sub-1' });
  const second = await h.post('allocate', { subscriber_id: 'sub-1' });
  const r = await h.get(`${BASE}/lifecycle/sub-1/events`);
  assert.is(r.status, 200);
  conforms(lifecycleEvents, r.body);
  const events = r.body.events as { at: string; lifecycle_id: string; type: string; from: string | null; to: string }[];
  const ats = events.map((e) => e.at);
  assert.equal(ats, [...ats].sort(), 'oldest first');
  assert.is(events[0]!.type, 'CREATED');
  assert.is(events[0]!.from, null);
  assert.is(events[0]!.lifecycle_id, first.body.lifecycle_id);
  assert.is(events.at(-1)!.lifecycle_id, second.body.lifecycle_id);
  const types = events.filter((e) => e.lifecycle_id === first.body.lifecycle_id).map((e) => e.type);
  assert.ok(types.includes('ACTIVATE') && types.includes('REVOKE'), types.join());
  assert.is(events.filter((e) => e.lifecycle_id === first.body.lifecycle_id).at(-1)!.to, 'revoked');
});

test('GET /lifecycle/{subscriber_id}/events for a subscriber never seen → 404 not_found', async () => {
  const r = await h.get(`${BASE}/lifecycle/nobody/events`);
  assert.is(r.status, 404);
  assert.is(r.body.error.code, 'not_found');
});

test('GET /lifecycle?limit=2&cursor= → pages that cover every lifecycle once', async () => {
  const ids = ['a', 'b', 'c', 'd', 'e'];
  for (const id of ids) await h.post('allocate', { subscriber_id: id });
  const seen: string[] = [];
  let cursor: string | null = null;
  const sizes: number[] = [];
  do {
    const r = await h.get(`${BASE}/lifecycle?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    assert.is(r.status, 200);
    conforms(lifecycleList, r.body);
    sizes.push(r.body.items.length);
    seen.push(...r.body.items.map((i: { subscriber_id: string }) => i.subscriber_id));
    cursor = r.body.next_cursor;
  } while (cursor && sizes.length < 10);
  assert.equal(sizes, [2, 2, 1]);
  assert.equal([...seen].sort(), ids);
});

test('GET /lifecycle → newest first by creation (v7 ids), ?order=asc oldest first; pages stay exact while lifecycles are created', async () => {
  const subs = Array.from({ length: 12 }, (_, i) => `conc-${i}`);
  const created = await Promise.all(subs.map((s) => h.post('allocate', { subscriber_id: s })));
  for (const c of created) assert.match(c.body.lifecycle_id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUIDv7');
  const key = (id: string) => {
    const row = h.composed.store.get(id)!;
    return `${row.created_at} ${row.id}`;
  };
  const byCreation = created.map((c) => c.body.lifecycle_id as string).sort((a, b) => (key(a) < key(b) ? -1 : 1));
  for (const order of ['desc', 'asc', undefined] as const) {
    const seen: string[] = [];
    let cursor: string | null = null;
    let n = 0;
    do {
      const q = `limit=5${order ? `&order=${order}` : ''}${cursor ? `&cursor=${cursor}` : ''}`;
      const r = await h.get(`${BASE}/lifecycle?${q}`);
      assert.is(r.status, 200, q);
      seen.push(...r.body.items.map((i: { lifecycle_id: string }) => i.lifecycle_id));
      cursor = r.body.next_cursor;
      // Created between two pages: later than every lifecycle above.
      await Promise.all([1, 2].map((k) => h.post('allocate', { subscriber_id: `late-${order}-${n}-${k}` })));
      n++;
    } while (cursor && n < 20);
    assert.is(new Set(seen).size, seen.length, 'no lifecycle twice');
    const first = seen.filter((id) => byCreation.includes(id));
    assert.equal(first, order === 'asc' ? byCreation : [...byCreation].reverse(), `order=${order}`);
  }
});

test('GET /lifecycle?order= → a cursor keeps the order it was handed out with', async () => {
  for (const s of ['o1', 'o2', 'o3']) await h.post('allocate', { subscriber_id: s });
  const page = await h.get(`${BASE}/lifecycle?limit=1&order=asc`);
  assert.equal(page.body.items[0].subscriber_id, 'o1');
  const next = await h.get(`${BASE}/lifecycle?limit=1&cursor=${page.body.next_cursor}`);
  assert.equal(next.body.items[0].subscriber_id, 'o2');
  const mixed = await h.get(`${BASE}/lifecycle?limit=1&order=desc&cursor=${page.body.next_cursor}`);
  assert.equal([mixed.status, mixed.body.error.field], [400, 'cursor']);
  const bad = await h.get(`${BASE}/lifecycle?order=newest`);
  assert.equal([bad.status, bad.body.error.code], [400, 'validation_error']);
});

test('GET /lifecycle → default page of everything, next_cursor null', async () => {
  await h.post('allocate', { subscriber_id: 'a' });
  const r = await h.get(`${BASE}/lifecycle`);
  assert.is(r.status, 200);
  assert.is(r.body.items.length, 1);
  assert.is(r.body.next_cursor, null);
});

test('GET /lifecycle?state=active&pool=business → only those', async () => {
  await h.post('allocate', { subscriber_id: 'res-allocated' });
  await h.post('allocate', { subscriber_id: 'biz-allocated', pool: 'business' });
  await h.post('allocate', { subscriber_id: 'biz-active', pool: 'business' });
  await h.post('activate', { subscriber_id: 'biz-active', username: 'b' });
  await h.post('allocate', { subscriber_id: 'res-active' });
  await h.post('activate', { subscriber_id: 'res-active', username: 'r' });
  const ids = async (q: string) => (await h.get(`${BASE}/lifecycle?${q}`)).body.items.map((i: { subscriber_id: string }) => i.subscriber_id).sort();
  assert.equal(await ids('state=active&pool=business'), ['biz-active']);
  assert.equal(await ids('state=active'), ['biz-active', 'res-active']);
  assert.equal(await ids('pool=business'), ['biz-active', 'biz-allocated']);
  assert.equal(await ids('state=revoked'), []);
});

test('GET /api/v1/network/ipv6/metrics → 200 pools, states and leaks', async () => {
  await h.post('allocate', { subscriber_id: 'a', pool: 'tiny' });
  await h.post('allocate', { subscriber_id: 'b' });
  await h.post('activate', { subscriber_id: 'b', username: 'b' });
  const r = await h.get(`${BASE}/metrics`);
  assert.is(r.status, 200);
  conforms(apiMetricsSummary, r.body);
  const tiny = r.body.pools.find((p: { name: string }) => p.name === 'tiny');
  assert.equal(tiny, { name: 'tiny', prefix: '2001:db8:ff00::/63', prefix_length: 64, capacity: 2, allocated: 1, held_down: 0, utilization_percent: 50, draining: false });
  assert.is(r.body.states.allocated, 1);
  assert.is(r.body.states.active, 1);
  assert.is(r.body.leaks, 0);
});

test('GET /lifecycle?pool=unknown → 404 naming pool; a made-up cursor → 400 naming cursor; stray query parameters → 400', async () => {
  const pool = await h.get(`${BASE}/lifecycle?pool=nope`);
  assert.equal([pool.status, pool.body.error.field], [404, 'pool']);
  const cursor = await h.get(`${BASE}/lifecycle?cursor=Z2FyYmFnZQ`);
  assert.equal([cursor.status, cursor.body.error.field], [400, 'cursor']);
  for (const path of [`${BASE}/lifecycle/sub-1?foo=1`, `${BASE}/lifecycle/sub-1/events?foo=1`, `${BASE}/metrics?foo=1`]) {
    const r = await h.get(path);
    assert.equal([r.status, r.body.error.code], [400, 'validation_error'], path);
  }
});

test.run();
