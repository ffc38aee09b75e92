// Review 8b: docs/api.md adds 409 `username_in_use` to `POST /activate` ("the contract has no code for
// it, so the code is an extension"), and the service answers it; the served OpenAPI document is the
// machine-readable contract, so the activate operation's 409 must say it can be that code.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';

const test = suite('review8b: the OpenAPI document names every 409 code an operation answers');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => h.close());

test('REVIEW8 POST /activate answers 409 username_in_use, and its OpenAPI 409 names username_in_use', async () => {
  await h.post('allocate', { subscriber_id: 'r8-a' });
  await h.post('allocate', { subscriber_id: 'r8-b' });
  await h.post('activate', { subscriber_id: 'r8-a', username: 'shared@example.net' });
  const r = await h.post('activate', { subscriber_id: 'r8-b', username: 'shared@example.net' });
  assert.is(r.status, 409);
  assert.is(r.body.error.code, 'username_in_use');
  const doc = (await h.get('/openapi.json', { token: null })).body;
  const described = doc.paths[`${BASE}/activate`].post.responses['409'].description as string;
  assert.match(described, 'username_in_use', `the 409 of POST /activate reads: ${described}`);
});

test.run();
