// Review 7: the Location a POST answers is the lifecycle to poll (API.md, Conventions: "then `202`
// with the lifecycle as it is … and a `Location` header to poll"; docs/api.md: 201 "with
// `Location`"). A client resolves it against the request URL as RFC 3986 §5.2 says, dot segments
// removed, as fetch, curl and every HTTP library do.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startService, TOKEN, type Service } from './support.ts';

const test = suite('review7: the Location of a lifecycle, resolved as a client resolves it');
let svc: Service;

test.before(async () => {
  svc = await startService(() => ({ pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }] }));
});
test.after(async () => svc.close());

/** Allocates `id`, follows the Location of the 201 as a client does, and answers what it found. */
async function follow(id: string) {
  const a = await svc.post('allocate?wait=5000', { subscriber_id: id });
  assert.is(a.status, 201, `${id}: ${a.text.slice(0, 200)}`);
  const location = a.headers.get('location')!;
  const url = new URL(location, `${svc.origin}${BASE}/allocate`);
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { location, path: url.pathname, status: res.status, body: (await res.json()) as any };
}

for (const id of ['.', '..']) {
  test(`subscriber "${id}", whose Location no client of the URL Standard can follow, is 400 at allocate and nothing is allocated`, async () => {
    // What a user sees: subscriber_id "." (or "..") is accepted (http/schemas.ts allows any
    // printable name), and the 201's Location is `${BASE}/lifecycle/${id}`: resolved, "." lands on
    // `${BASE}/lifecycle/` (the list) and ".." on `${BASE}/` (404), so a client polling it never
    // sees the lifecycle. Expected: a Location that reaches `GET /lifecycle/{subscriber_id}` of this
    // subscriber (encodeURIComponent leaves "." alone: it would need "%2E"), or a 400 on such ids.
    // The Location now spells it %2E, which curl follows (test/http/location.test.ts), but fetch, as
    // here, reads %2E as a dot segment too (the URL Standard's "single-dot segment"): no spelling of
    // these ids survives it, so allocate refuses them.
    const a = await svc.post('allocate?wait=5000', { subscriber_id: id });
    assert.is(a.status, 400, `${a.status} ${a.text.slice(0, 200)}`);
    assert.is(a.body.error?.code, 'validation_error');
    assert.is(a.body.error?.field, 'subscriber_id');
    const list = await svc.get('lifecycle');
    assert.ok(!list.body.items.some((l: { subscriber_id: string }) => l.subscriber_id === id), 'nothing allocated');
  });
}

test('held: ids with "/", "?", "#", "%", spaces and non-ASCII get a Location that leads to them', async () => {
  for (const id of ['a/b', '../x', 'a?b#c', '%2e%2e', ' spaced ', '\u00e9t\u00e9', '...']) {
    const f = await follow(id);
    assert.is(f.status, 200, `${id}: ${f.location} → ${f.path}`);
    assert.is(f.body.subscriber_id, id, `${id}: ${f.location} → ${f.path}`);
  }
});

test.run();
