// A replay of an Idempotency-Key answered its stored outcome before the route checked the query: a
// keyed `allocate?wait=abc` (or `?wait=0&wait=1`, `?wait=-1`, past the maximum) was a 201, and a keyed
// `import?wait=0` the stored report, where the same request without a stored key is 400 naming `wait`.
// The hash leaves `wait` out, so only the route's check can refuse it. Seeded: FUZZ_SEED replays a run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';
import { createRandom } from '../support/soak-random.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 15);
const test = suite('review15 fuzz a replay checks its query');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

const BAD_WAIT = ['wait=abc', 'wait=-1', 'wait=99999999999', 'wait=0&wait=1', 'wait=', 'wait=1.5', 'wait=1e3'];
const IMPORT = { sources: { file: { records: [] } } };

test('a keyed replay with a bad ?wait= is 400 naming wait, as the first request is, and changes nothing', async () => {
  const r = createRandom(SEED);
  assert.is((await h.post('allocate', { subscriber_id: 'rq-1' }, { headers: { 'idempotency-key': 'rq-k1' } })).status, 201);
  assert.is((await h.request('POST', `${BASE}/import?dry_run=true`, { json: IMPORT, headers: { 'idempotency-key': 'rq-k2' } })).status, 200);
  const before = JSON.stringify([(await h.get(`${BASE}/lifecycle?limit=1000`)).body, (await h.get(`${BASE}/lifecycle/rq-1/events`)).body]);
  for (const q of r.shuffle(BAD_WAIT)) {
    const fresh = await h.request('POST', `${BASE}/allocate?${q}`, { json: { subscriber_id: 'rq-2' } });
    assert.is(fresh.status, 400, `${q} fresh: ${fresh.text}`);
    assert.is(fresh.body.error.field, 'wait', q);
    const replay = await h.request('POST', `${BASE}/allocate?${q}`, { json: { subscriber_id: 'rq-1' }, headers: { 'idempotency-key': 'rq-k1' } });
    assert.is(replay.status, 400, `${q} replay: ${replay.text}`);
    assert.is(replay.body.error.field, 'wait', q);
  }
  const imp = await h.request('POST', `${BASE}/import?dry_run=true&wait=0`, { json: IMPORT, headers: { 'idempotency-key': 'rq-k2' } });
  assert.is(imp.status, 400, imp.text);
  assert.is(imp.body.error.field, 'wait');
  // The key still answers its request once the query is right.
  const ok = await h.request('POST', `${BASE}/allocate?wait=0`, { json: { subscriber_id: 'rq-1' }, headers: { 'idempotency-key': 'rq-k1' } });
  assert.is(ok.status, 201, ok.text);
  assert.is(ok.headers.get('idempotent-replayed'), 'true');
  const after = JSON.stringify([(await h.get(`${BASE}/lifecycle?limit=1000`)).body, (await h.get(`${BASE}/lifecycle/rq-1/events`)).body]);
  assert.is(after, before);
});

test.run();
