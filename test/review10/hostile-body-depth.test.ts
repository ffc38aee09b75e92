// Review 10 (hostile): a body within the 64 KiB limit can nest 32 000 arrays. JSON.parse takes it,
// but the Idempotency-Key's hash walks the body recursively, so `POST /allocate` (or /jobs, /import)
// with such a body and a key answered 500 "internal" with a stack overflow in the log. No request body
// of the API nests more than a few levels, so one deeper than 32 is 400 naming the top-level field,
// before any key is written or anything runs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, type Service } from '../review7/support.ts';

const test = suite('review10 (hostile): a request body nested thousands of levels deep');
let svc: Service;

test.before(async () => {
  svc = await startService(() => ({}));
});
test.after(async () => svc.close());

const arrays = (n: number) => `{"subscriber_id":"deep","x":${'['.repeat(n)}${']'.repeat(n)}}`;
const objects = (n: number) => `{"subscriber_id":"deep","x":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`;

test('POST /allocate, /jobs/leaks, /import with 32 000 nested arrays or 10 000 nested objects and a key → 400 naming x', async () => {
  let n = 0;
  for (const path of ['allocate', 'jobs/leaks', 'import']) {
    for (const body of [arrays(32_000), objects(10_000)]) {
      const r = await svc.post(path, body, { 'idempotency-key': `deep-${n++}` });
      assert.is(r.status, 400, `${path}: ${r.text.slice(0, 200)}`);
      assert.equal(r.body.error, { code: 'validation_error', message: 'x: nests deeper than 32 levels', field: 'x' });
    }
  }
  assert.is((await svc.get('lifecycle/deep')).status, 404, 'nothing allocated');
  assert.not.ok(svc.logs.some((l) => l.includes('Maximum call stack')), 'no stack overflow logged');
});

test('the same key sent again with a body the API takes is served: the refused one stored nothing', async () => {
  const r = await svc.post('allocate', { subscriber_id: 'deep' }, { 'idempotency-key': 'deep-0' });
  assert.is(r.status, 201, r.text);
});

test('a body 32 levels deep is read (and refused only for what it says)', async () => {
  const r = await svc.post('allocate', `{"subscriber_id":"deep2","x":${'['.repeat(31)}${']'.repeat(31)}}`);
  assert.equal(r.body.error, { code: 'validation_error', message: 'unknown field x', field: 'x' });
});

test.run();
