// Review 10 (hostile): the Idempotency-Key's request hash covered method, path and body, not the
// query, so a key first sent with `POST /import?dry_run=true` and then with `?dry_run=false` replayed
// the dry run's report (200, `dry_run: true`) and adopted nothing, and a key spent on a real
// `POST /jobs/leaks` answered a later `?dry_run=true` with the real run. `dry_run` and `format` change
// what the request does, so the same key with another value is 422 `idempotency_mismatch`; `?wait=`
// still does not count (docs/api.md, "Idempotency-Key").
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, type Service } from '../review7/support.ts';

const test = suite('review10 (hostile): an Idempotency-Key sent again with another dry_run or format');
let svc: Service;

test.before(async () => {
  svc = await startService(() => ({}));
});
test.after(async () => svc.close());

const body = { sources: { file: { records: [{ subscriber_id: 'adopt-me', prefix: '2001:db8:7::/56' }] } } };

test('POST /import?dry_run=true, then ?dry_run=false with the same key → 422, nothing adopted; a new key applies it', async () => {
  const dry = await svc.post('import?dry_run=true', body, { 'idempotency-key': 'import-1' });
  assert.is(dry.status, 200, dry.text);
  assert.is(dry.body.dry_run, true);

  const apply = await svc.post('import?dry_run=false', body, { 'idempotency-key': 'import-1' });
  assert.is(apply.status, 422, apply.text);
  assert.equal(apply.body.error, { code: 'idempotency_mismatch', message: 'Idempotency-Key import-1 was used with a different request', field: 'Idempotency-Key' });
  assert.is((await svc.get('lifecycle/adopt-me')).status, 404, 'nothing adopted');

  const csv = await svc.post('import?dry_run=true&format=csv', body, { 'idempotency-key': 'import-1' });
  assert.is(csv.status, 422, csv.text);

  const fresh = await svc.post('import?dry_run=false', body, { 'idempotency-key': 'import-2' });
  assert.is(fresh.status, 200, fresh.text);
  assert.equal(fresh.body.applied, { adopted: 1, failed: [] });
  assert.is((await svc.get('lifecycle/adopt-me')).body.prefix, '2001:db8:7::/56');
});

test('POST /jobs/leaks, then /jobs/leaks?dry_run=true with the same key → 422, not the real run replayed', async () => {
  const real = await svc.post('jobs/leaks', '', { 'idempotency-key': 'leaks-1' });
  assert.is(real.status, 200, real.text);
  assert.is(real.body.dry_run, false);
  const dry = await svc.post('jobs/leaks?dry_run=true', '', { 'idempotency-key': 'leaks-1' });
  assert.is(dry.status, 422, dry.text);
  assert.is(dry.body.error.field, 'Idempotency-Key');
});

// The key stores the answer's body only: a replayed CSV report went out as text/plain.
test('POST /import?format=csv sent again with its key → the same CSV, as text/csv', async () => {
  const csv = { sources: { file: { records: [{ subscriber_id: 'csv-1', prefix: '2001:db8:8::/56' }] } } };
  const first = await svc.post('import?format=csv', csv, { 'idempotency-key': 'csv-1' });
  const again = await svc.post('import?format=csv', csv, { 'idempotency-key': 'csv-1' });
  assert.is(again.headers.get('idempotent-replayed'), 'true');
  assert.is(again.text, first.text);
  assert.is(again.headers.get('content-type'), first.headers.get('content-type'));
  assert.is(first.headers.get('content-type'), 'text/csv; charset=utf-8');
});

test('the same key with only ?wait= changed is still a replay', async () => {
  const first = await svc.post('allocate', { subscriber_id: 'waits' }, { 'idempotency-key': 'wait-1' });
  assert.is(first.status, 201, first.text);
  const again = await svc.post('allocate?wait=0', { subscriber_id: 'waits' }, { 'idempotency-key': 'wait-1' });
  assert.is(again.status, 201, again.text);
  assert.is(again.headers.get('idempotent-replayed'), 'true');
  assert.is(again.body.lifecycle_id, first.body.lifecycle_id);
});

test.run();
