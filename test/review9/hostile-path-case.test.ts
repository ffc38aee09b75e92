// Review 9 (hostile): the bearer check decides "is this /api/?" on the exact path, while the router
// matched paths case-insensitively: `POST /API/v1/network/ipv6/revoke` with no token revoked a
// subscriber. Each route of the document, spelt in other cases, must not be served without the token.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, type Service } from '../review7/support.ts';

const test = suite('review9 (hostile): a path spelt in another case never gets past the bearer check');
let svc: Service;

test.before(async () => {
  svc = await startService(() => ({}));
  await svc.post('allocate', { subscriber_id: 'victim' });
});
test.after(async () => svc.close());

const noToken = (method: string, path: string, body?: unknown) =>
  fetch(svc.origin + path, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });

test('GET /API/…/lifecycle, /Api/…/metrics, /api/v1/NETWORK/… without a token → never 200, and no lifecycle in the answer', async () => {
  for (const path of ['/API/v1/network/ipv6/lifecycle', '/Api/v1/network/ipv6/metrics', '/aPi/v1/network/ipv6/lifecycle/victim', '/API/v1/network/ipv6/lifecycle/victim/events']) {
    const r = await noToken('GET', path);
    const text = await r.text();
    assert.ok(r.status === 401 || r.status === 404, `${path}: ${r.status} ${text.slice(0, 80)}`);
    assert.not.match(text, /2001:db8|lifecycle_id/, path);
    assert.equal(JSON.parse(text).error?.code, r.status === 401 ? 'unauthorized' : 'not_found', path);
  }
});

test('POST /API/…/revoke and /API/…/jobs/leaks without a token → refused, and the subscriber is still allocated', async () => {
  const revoke = await noToken('POST', '/API/v1/network/ipv6/revoke?wait=0', { subscriber_id: 'victim', reason: 'x' });
  assert.ok(revoke.status === 401 || revoke.status === 404, `revoke: ${revoke.status}`);
  const job = await noToken('POST', '/API/v1/network/ipv6/jobs/leaks');
  assert.ok(job.status === 401 || job.status === 404, `job: ${job.status}`);
  const r = await svc.get('/api/v1/network/ipv6/lifecycle/victim');
  assert.is(r.body.state, 'allocated');
  const events = await svc.get('/api/v1/network/ipv6/lifecycle/victim/events');
  assert.equal(events.body.events.map((e: { type: string }) => e.type), ['CREATED', 'STEP_DONE']);
});

test.run();
