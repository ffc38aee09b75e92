import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig } from '../../config.ts';
import { createApp } from '../../http/app.ts';
import { createIdempotencyStore, type IdempotencyStore } from '../../store/idempotency.ts';
import { asyncOf } from '../../store/port.ts';
import { BASE, gatedIpam, pollUntil, startHarness, type Harness } from './support.ts';

const test = suite('http Idempotency-Key');
let h: Harness;
test.after.each(async () => {
  await h?.close();
});
const key = (k: string) => ({ headers: { 'idempotency-key': k } });
const allocateCalls = () => h.ipam.calls.filter((c) => c.method === 'allocate').length;

test('POST /allocate twice with one Idempotency-Key → the first answer again, allocated once', async () => {
  h = await startHarness();
  const first = await h.post('allocate', { subscriber_id: 's', pool: 'business' }, key('k-1'));
  assert.is(first.status, 201);
  assert.is(first.headers.get('idempotent-replayed'), null);
  // Key order differs: the body is compared in canonical form.
  const again = await h.post('allocate', { pool: 'business', subscriber_id: 's' }, key('k-1'));
  assert.is(again.status, 201, 'the same status, not the 200 a fresh request would get');
  assert.equal(again.body, first.body);
  assert.is(again.headers.get('location'), first.headers.get('location'));
  assert.is(again.headers.get('idempotent-replayed'), 'true');
  assert.is(allocateCalls(), 1);
  assert.is(h.ipam.allocations().length, 1);
});

test('POST /suspend → 409, then replayed after the state changed → still 409, nothing suspended', async () => {
  h = await startHarness();
  await h.post('allocate', { subscriber_id: 's' });
  const refused = await h.post('suspend', { subscriber_id: 's' }, key('k-2'));
  assert.is(refused.status, 409);
  await h.post('activate', { subscriber_id: 's', username: 'u' });
  const replay = await h.post('suspend', { subscriber_id: 's' }, key('k-2'));
  assert.is(replay.status, 409);
  assert.equal(replay.body, refused.body);
  assert.is((await h.get(`${BASE}/lifecycle/s`)).body.state, 'active');
});

test('POST /allocate with a used Idempotency-Key and another body → 422 idempotency_mismatch', async () => {
  h = await startHarness();
  await h.post('allocate', { subscriber_id: 's' }, key('k-3'));
  const r = await h.post('allocate', { subscriber_id: 'other' }, key('k-3'));
  assert.is(r.status, 422);
  assert.equal(r.body, { error: { code: 'idempotency_mismatch', message: 'Idempotency-Key k-3 was used with a different request', field: 'Idempotency-Key' } });
  assert.is((await h.get(`${BASE}/lifecycle/other`)).status, 404, 'the other subscriber got nothing');
});

test('POST /revoke with a key first used on POST /allocate → 422 (the path is part of the request)', async () => {
  h = await startHarness();
  await h.post('allocate', { subscriber_id: 's' }, key('k-4'));
  const r = await h.post('revoke', { subscriber_id: 's' }, key('k-4'));
  assert.is(r.status, 422);
  assert.is((await h.get(`${BASE}/lifecycle/s`)).body.state, 'allocated');
});

test('POST /allocate with a 256-character Idempotency-Key → 400 naming the header', async () => {
  h = await startHarness();
  const r = await h.post('allocate', { subscriber_id: 's' }, key('k'.repeat(256)));
  assert.is(r.status, 400);
  assert.is(r.body.error.code, 'validation_error');
  assert.is(r.body.error.field, 'Idempotency-Key');
  assert.match(r.body.error.message, 'Idempotency-Key');
  assert.is(allocateCalls(), 0);
  assert.is((await h.post('allocate', { subscriber_id: 's' }, key('k'.repeat(255)))).status, 201, '255 is the limit');
});

test('POST /allocate → 500, then the same key → runs again (5xx answers are not stored)', async () => {
  h = await startHarness();
  h.ipam.failNext('allocate', { error: () => new Error('boom') });
  const failed = await h.post('allocate', { subscriber_id: 's' }, key('k-5'));
  assert.is(failed.status, 500);
  // The failed lifecycle stays the subscriber's live one; get it allocated, then reuse the first key.
  const retried = await h.post('retry', { subscriber_id: 's' }, key('k-6'));
  assert.is(retried.status, 200);
  const again = await h.post('allocate', { subscriber_id: 's' }, key('k-5'));
  assert.is(again.status, 200, 'executed: the existing lifecycle, not a replayed 500');
  assert.is(again.headers.get('idempotent-replayed'), null);
});

test('POST /allocate twice at once with one key → one allocation, the same answer twice', async () => {
  h = await startHarness();
  const [a, b] = await Promise.all([
    h.post('allocate', { subscriber_id: 's' }, key('k-7')),
    h.post('allocate', { subscriber_id: 's' }, key('k-7')),
  ]);
  assert.is(a.status, 201);
  assert.is(b.status, 201);
  assert.equal(a.body, b.body);
  assert.is(allocateCalls(), 1);
});

test('POST /allocate?wait=0 → 202, replayed once it settled → its 201 with the Location, allocated once', async () => {
  const gate = { g: null as ReturnType<typeof gatedIpam> | null };
  h = await startHarness({ wrapIpam: (fake) => (gate.g = gatedIpam(fake)).port });
  gate.g!.close();
  const first = await h.request('POST', `${BASE}/allocate?wait=0`, { json: { subscriber_id: 's' }, ...key('k-8') });
  assert.is(first.status, 202);
  gate.g!.open();
  const settled = await pollUntil(h, first.headers.get('location')!, (b) => b.state === 'allocated');
  const replay = await h.request('POST', `${BASE}/allocate`, { json: { subscriber_id: 's' }, ...key('k-8') });
  assert.is(replay.status, 201, 'the outcome replaces the 202 under the key');
  assert.equal(replay.body, settled.body);
  assert.is(replay.headers.get('location'), `${BASE}/lifecycle/s`);
  assert.is(allocateCalls(), 1);
});

test('POST /allocate without Idempotency-Key, twice → both run (201 then 200)', async () => {
  h = await startHarness();
  assert.is((await h.post('allocate', { subscriber_id: 's' })).status, 201);
  assert.is((await h.post('allocate', { subscriber_id: 's' })).status, 200);
});

test('POST with a key → keys older than idempotency_ttl_s are pruned, at most once a minute', async () => {
  h = await startHarness();
  const store = createIdempotencyStore(h.composed.db);
  const prunes: string[] = [];
  const spy = asyncOf<IdempotencyStore>({ ...store, prune: (before) => (prunes.push(before), store.prune(before)) });
  const app = createApp({
    service: h.composed.service,
    idempotency: spy,
    registry: new Registry(),
    summary: async () => ({ pools: [], states: {}, leaks: 0 }),
    ready: () => true,
    api: parseConfig({ api: { idempotency_ttl_s: 3600 } }).api,
    token: h.token,
    metricsToken: null,
    log: pino({ level: 'silent' }),
  });
  const server = createServer(app.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${BASE}/allocate`;
  const post = (subscriber: string) =>
    fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json', 'idempotency-key': `p-${subscriber}` },
      body: JSON.stringify({ subscriber_id: subscriber }),
    });
  try {
    const before = Date.now();
    assert.is((await post('a')).status, 201);
    assert.is((await post('b')).status, 201);
    assert.is(prunes.length, 1);
    const cutoff = Date.parse(prunes[0]!);
    assert.ok(Math.abs(before - 3600_000 - cutoff) < 5000, prunes[0]);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('POST /allocate with an empty Idempotency-Key → 400 naming the header', async () => {
  h = await startHarness();
  const r = await h.post('allocate', { subscriber_id: 'empty-key' }, { headers: { 'idempotency-key': '' } });
  assert.equal([r.status, r.body.error.field], [400, 'Idempotency-Key']);
});

test.run();
