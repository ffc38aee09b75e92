import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, METRICS_TOKEN, TOKEN, startHarness, type Harness } from './support.ts';

const test = suite('http auth and readiness');
let h: Harness;
test.after.each(async () => {
  await h?.close();
});

const unauthorized = { error: { code: 'unauthorized', message: 'missing bearer token', field: null } };

test('POST /allocate without a token → 401 unauthorized, nothing allocated', async () => {
  h = await startHarness();
  const r = await h.post('allocate', { subscriber_id: 's' }, { token: null });
  assert.is(r.status, 401);
  assert.equal(r.body, unauthorized);
  assert.is(r.headers.get('www-authenticate'), 'Bearer realm="api"');
  assert.equal(h.ipam.calls, []);
});

test('GET /lifecycle/{subscriber_id} with a wrong token → 401 unauthorized', async () => {
  h = await startHarness();
  await h.post('allocate', { subscriber_id: 's' });
  for (const token of ['wrong', TOKEN.slice(0, -1), `${TOKEN}x`, METRICS_TOKEN]) {
    const r = await h.get(`${BASE}/lifecycle/s`, { token });
    assert.is(r.status, 401, token);
    assert.equal(r.body, { error: { code: 'unauthorized', message: 'wrong bearer token', field: null } });
  }
});

test('GET /lifecycle with Basic credentials → 401 unauthorized', async () => {
  h = await startHarness();
  const r = await h.get(`${BASE}/lifecycle`, { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } });
  assert.is(r.status, 401);
});

test('GET /lifecycle with "bearer <token>" (scheme is case-insensitive) → 200', async () => {
  h = await startHarness();
  const r = await h.get(`${BASE}/lifecycle`, { headers: { authorization: `bearer ${TOKEN}` } });
  assert.is(r.status, 200);
});

test('GET /api/v1/network/ipv6/nope without a token → 401, not 404', async () => {
  h = await startHarness();
  assert.is((await h.get(`${BASE}/nope`, { token: null })).status, 401);
});

test('POST /allocate while start-up recovery runs → 503 unavailable; after start() → 201', async () => {
  h = await startHarness({ skipStart: true });
  const r = await h.post('allocate', { subscriber_id: 's' });
  assert.is(r.status, 503);
  assert.equal(r.body, { error: { code: 'unavailable', message: 'start-up recovery is still running', field: null } });
  assert.is(r.headers.get('retry-after'), '1');
  assert.is((await h.get(`${BASE}/lifecycle`)).status, 503);
  assert.equal(h.ipam.calls, []);
  await h.composed.start();
  assert.is((await h.post('allocate', { subscriber_id: 's' })).status, 201);
});

test('GET /readyz → 503 in the error shape before start(), 200 after', async () => {
  h = await startHarness({ skipStart: true });
  const before = await h.get('/readyz', { token: null });
  assert.is(before.status, 503);
  assert.is(before.body.error.code, 'unavailable');
  assert.is(before.body.error.field, null);
  await h.composed.start();
  const after = await h.get('/readyz', { token: null });
  assert.is(after.status, 200);
  assert.equal(after.body, { status: 'ready' });
});

test('GET /healthz without a token, before start() → 200 {"status":"ok"}', async () => {
  h = await startHarness({ skipStart: true });
  const r = await h.get('/healthz', { token: null });
  assert.is(r.status, 200);
  assert.equal(r.body, { status: 'ok' });
});

test('GET /metrics without a token → 200 when no metrics token is configured', async () => {
  h = await startHarness();
  assert.is((await h.get('/metrics', { token: null })).status, 200);
});

test('GET /metrics with a metrics token configured → 401 without it or with the API token, 200 with it', async () => {
  h = await startHarness({ metricsToken: true });
  const none = await h.get('/metrics', { token: null });
  assert.is(none.status, 401);
  assert.is(none.body.error.code, 'unauthorized');
  assert.is((await h.get('/metrics', { token: TOKEN })).status, 401);
  const ok = await h.get('/metrics', { token: METRICS_TOKEN });
  assert.is(ok.status, 200);
  assert.match(ok.text, 'process_cpu_user_seconds_total');
});

test('any request → the token never reaches a log line', async () => {
  h = await startHarness({ metricsToken: true });
  await h.post('allocate', { subscriber_id: 's' });
  await h.get(`${BASE}/lifecycle/s`, { token: 'wrong-token-guess' });
  await h.get('/metrics', { token: METRICS_TOKEN });
  assert.ok(h.rawLogs.length > 3);
  for (const line of h.rawLogs) {
    assert.not.match(line, TOKEN);
    assert.not.match(line, METRICS_TOKEN);
    assert.not.match(line, 'wrong-token-guess');
    assert.not.match(line.toLowerCase(), 'authorization');
  }
});

test.run();
