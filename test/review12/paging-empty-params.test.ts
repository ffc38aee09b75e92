// API.md writes the list route as `GET /lifecycle?state=&pool=&limit=&cursor=`, and scripts fill
// such a template in: `?state=&pool=residential&cursor=` for "any state, first page". Each empty
// value answered 400 (`state` not one of the states, `cursor` not a next_cursor). An empty value
// of the list's parameters now means the parameter is absent; a value that is there is still
// checked as before, and an unknown parameter, empty or not, is still a 400 naming it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';

const test = suite('review12: the list route takes its template with empty values');
let h: Harness;
test.before(async () => {
  h = await startHarness();
  for (const s of ['e1', 'e2', 'e3']) assert.is((await h.post('allocate', { subscriber_id: s })).status, 201);
});
test.after(async () => {
  await h.close();
});

const ids = (body: { items: { subscriber_id: string }[] }) => body.items.map((i) => i.subscriber_id);

test('GET /lifecycle?state=&pool=&limit=&cursor= (API.md\'s template as written) → 200, the same as no parameter', async () => {
  const plain = await h.get(`${BASE}/lifecycle`);
  const r = await h.get(`${BASE}/lifecycle?state=&pool=&limit=&cursor=`);
  assert.is(r.status, 200, r.text);
  assert.equal(ids(r.body), ids(plain.body));
  assert.equal(ids(r.body).sort(), ['e1', 'e2', 'e3']);
  const ordered = await h.get(`${BASE}/lifecycle?order=&limit=2&cursor=`);
  assert.equal([ordered.status, ordered.body.items.length, typeof ordered.body.next_cursor], [200, 2, 'string'], ordered.text);
  const next = await h.get(`${BASE}/lifecycle?state=&limit=2&cursor=${ordered.body.next_cursor}`);
  assert.equal([...ids(ordered.body), ...ids(next.body)], ids(plain.body));
});

test('a value that is there is still checked, and an unknown parameter is still refused, empty or not', async () => {
  const bad = await h.get(`${BASE}/lifecycle?state=nope&pool=`);
  assert.equal([bad.status, bad.body.error?.field], [400, 'state'], bad.text);
  const zero = await h.get(`${BASE}/lifecycle?limit=0&state=`);
  assert.equal([zero.status, zero.body.error?.field], [400, 'limit'], zero.text);
  const unknown = await h.get(`${BASE}/lifecycle?stat=&pool=`);
  assert.equal([unknown.status, unknown.body.error?.field], [400, 'stat'], unknown.text);
});

test.run();
