// Review 10 (hostile): `?limit=99999999999` and `?wait=99999999999` were told "must be a non-negative
// decimal integer", which they are: the pattern stopped at 10 digits. Past the range, a decimal
// integer is told the range the document declares (`maximum`), whatever its length.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, type Service } from '../review7/support.ts';

const test = suite('review10 (hostile): a query integer past its maximum, however long');
let svc: Service;

test.before(async () => {
  svc = await startService(() => ({}));
});
test.after(async () => svc.close());

test('GET /lifecycle?limit=<11 to 400 digits> → 400 "limit: must be at most 1000"', async () => {
  for (const limit of ['99999999999', '9'.repeat(400), '00000000000000001001']) {
    const r = await svc.get(`lifecycle?limit=${limit}`);
    assert.is(r.status, 400);
    assert.equal(r.body.error, { code: 'validation_error', message: 'limit: must be at most 1000', field: 'limit' });
  }
  assert.is((await svc.get('lifecycle?limit=0000000000001')).status, 200, 'leading zeros are still a number in range');
});

test('POST /allocate?wait=99999999999 → 400 "wait: must be at most 60000", nothing allocated', async () => {
  const r = await svc.post('allocate?wait=99999999999', { subscriber_id: 'long-wait' });
  assert.equal(r.body.error, { code: 'validation_error', message: 'wait: must be at most 60000', field: 'wait' });
  assert.is((await svc.get('lifecycle/long-wait')).status, 404);
});

test('not a decimal integer is still said so: -1, 1e3, abc', async () => {
  for (const limit of ['-1', '1e3', 'abc']) {
    const r = await svc.get(`lifecycle?limit=${limit}`);
    assert.is(r.body.error.message, 'limit: must be a non-negative decimal integer', limit);
  }
});

test.run();
