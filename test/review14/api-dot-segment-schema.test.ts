// POST /allocate refuses a subscriber_id "." or ".." (a client drops such a path segment, so no
// Location could reach it: docs/api.md), but the served document's request schema took both: a
// client validating against /openapi.json sent them and met a 400 the document did not foretell.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';
import { validate } from '../http/schema-check.ts';

const test = suite('review14: the allocate request schema refuses "." and "..", as the service does');
let h: Harness;
let doc: any;
test.before(async () => {
  h = await startHarness();
  doc = (await h.get('/openapi.json', { token: null })).body;
});
test.after(async () => {
  await h.close();
});

const allocateSchema = () => doc.paths[`${BASE}/allocate`].post.requestBody.content['application/json'].schema;

for (const id of ['.', '..']) {
  test(`POST /allocate {"subscriber_id": "${id}"}: the service's 400 and the document's refusal`, async () => {
    const r = await h.post("allocate", { subscriber_id: id });
    assert.is(r.status, 400);
    assert.is(r.body.error.field, 'subscriber_id');
    assert.ok(validate(allocateSchema(), { subscriber_id: id }, doc).length > 0, `the document accepts subscriber_id ${JSON.stringify(id)}`);
  });
}

test('names with dots that a path can carry stay accepted by both', async () => {
  for (const id of ['...', '.a', 'a.', 'dot.ted']) {
    assert.equal(validate(allocateSchema(), { subscriber_id: id }, doc), [], id);
    assert.is((await h.post("allocate", { subscriber_id: id })).status, 201, id);
  }
});

test.run();
