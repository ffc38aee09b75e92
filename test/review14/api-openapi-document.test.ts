// The served OpenAPI document against the service, two findings of a contract review:
// - POST /allocate refuses a subscriber_id "." or ".." (a client drops such a path segment, so no
//   Location could reach it: docs/api.md), but the document's request schema took both: a client
//   validating against /openapi.json sent them and met a 400 the document did not foretell;
// - X-Request-Id is on every answer and Retry-After on every 503 (docs/api.md), and the service
//   sends them so; the document declared both optional (OpenAPI's `required` defaults to false),
//   while it marks Location on a 201 required. A client generated from it treated them as maybe absent.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';
import { validate } from '../http/schema-check.ts';

const test = suite('review14: the OpenAPI document says what the service does (dot segments, required headers)');
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

const resolve = (node: any): any => (node?.$ref ? resolve(node.$ref.replace(/^#\//, '').split('/').reduce((n: any, k: string) => n?.[k], doc)) : node);

test('every response of every operation: X-Request-Id required; every 503: Retry-After required', () => {
  let checked = 0;
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      for (const [status, response] of Object.entries<any>(op.responses)) {
        const headers = resolve(response).headers ?? {};
        assert.is(resolve(headers['X-Request-Id'])?.required, true, `${method} ${path} ${status} X-Request-Id`);
        if (status === '503') assert.is(resolve(headers['Retry-After'])?.required, true, `${method} ${path} 503 Retry-After`);
        checked++;
      }
    }
  }
  assert.ok(checked > 100, `${checked} responses`);
});

test('the service sends them: X-Request-Id on a 200, 401, 404 and 405; both on the 503 of a store not ready', async () => {
  for (const r of [await h.get('/healthz'), await h.get(`${BASE}/metrics`, { token: null }), await h.get(`${BASE}/lifecycle/none`), await h.get(`${BASE}/allocate`)]) {
    assert.ok(r.headers.get('x-request-id'), `${r.status} has X-Request-Id`);
  }
  const cold = await startHarness({ skipStart: true });
  try {
    const r = await cold.post('allocate', { subscriber_id: 'cold-1' });
    assert.is(r.status, 503);
    assert.ok(r.headers.get('x-request-id'));
    assert.is(r.headers.get('retry-after'), '1');
  } finally {
    await cold.close();
  }
});

test.run();
