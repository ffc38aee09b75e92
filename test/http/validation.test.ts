import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Answer, type Harness } from './support.ts';

const test = suite('http validation');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

function rejects(r: Answer, status: number, code: string, field: string | null, message?: string | RegExp) {
  assert.is(r.status, status, r.text);
  assert.is(r.body.error.code, code);
  assert.is(r.body.error.field, field);
  if (message) assert.match(r.body.error.message, message);
  if (field) assert.match(r.body.error.message, field, 'the message names the field');
  assert.equal(Object.keys(r.body), ['error']);
  assert.equal(Object.keys(r.body.error), ['code', 'message', 'field']);
}

const json = { 'content-type': 'application/json' };

test('POST /allocate {} → 400 naming subscriber_id (missing)', async () => {
  rejects(await h.post('allocate', {}), 400, 'validation_error', 'subscriber_id', 'subscriber_id is required');
});

test('POST /activate {subscriber_id} → 400 naming username (missing)', async () => {
  rejects(await h.post('activate', { subscriber_id: 's' }), 400, 'validation_error', 'username', 'is required');
});

test('POST /allocate {prefix_length: "56"} → 400 naming prefix_length (a string is not an integer)', async () => {
  rejects(await h.post('allocate', { subscriber_id: 's', prefix_length: '56' }), 400, 'validation_error', 'prefix_length', 'must be an integer');
});

test('POST /allocate {prefix_length: 56.5} → 400 naming prefix_length', async () => {
  rejects(await h.post('allocate', { subscriber_id: 's', prefix_length: 56.5 }), 400, 'validation_error', 'prefix_length');
});

test('POST /allocate {subscriber_id: 42} → 400 naming subscriber_id', async () => {
  rejects(await h.post('allocate', { subscriber_id: 42 }), 400, 'validation_error', 'subscriber_id', 'must be a string');
});

test('POST /suspend {subscriber_id, color} → 400 naming the unknown field', async () => {
  rejects(await h.post('suspend', { subscriber_id: 's', color: 'red' }), 400, 'validation_error', 'color', 'unknown field color');
});

test('POST /allocate with malformed JSON → 400 validation_error, field null', async () => {
  const r = await h.request('POST', `${BASE}/allocate`, { raw: '{"subscriber_id": "s",', headers: json });
  rejects(r, 400, 'validation_error', null, /^malformed JSON/);
});

test('POST /allocate with a JSON array or scalar → 400 body must be an object', async () => {
  rejects(await h.post('allocate', [{ subscriber_id: 's' }]), 400, 'validation_error', null, 'must be a JSON object');
  const scalar = await h.request('POST', `${BASE}/allocate`, { raw: '"s"', headers: json });
  rejects(scalar, 400, 'validation_error', null, 'must be a JSON object');
});

test('POST /allocate with no body → 400 naming subscriber_id', async () => {
  rejects(await h.request('POST', `${BASE}/allocate`), 400, 'validation_error', 'subscriber_id');
});

test('POST /allocate {subscriber_id: 129 chars | "" | control char} → 400 naming subscriber_id', async () => {
  rejects(await h.post('allocate', { subscriber_id: 'x'.repeat(129) }), 400, 'validation_error', 'subscriber_id');
  rejects(await h.post('allocate', { subscriber_id: '' }), 400, 'validation_error', 'subscriber_id');
  rejects(await h.post('allocate', { subscriber_id: 'sub\n42' }), 400, 'validation_error', 'subscriber_id', 'control characters');
  assert.is((await h.post('allocate', { subscriber_id: 'x'.repeat(128) })).status, 201, '128 is the limit');
});

test('POST /activate {username: 254 chars} → 400 naming username', async () => {
  rejects(await h.post('activate', { subscriber_id: 's', username: 'u'.repeat(254) }), 400, 'validation_error', 'username');
});

test('POST /activate {cpe_id: "a b/c"} → 400 naming cpe_id (not a GenieACS id)', async () => {
  rejects(await h.post('activate', { subscriber_id: 's', username: 'u', cpe_id: 'a b/c' }), 400, 'validation_error', 'cpe_id', 'GenieACS');
});

test('POST /revoke {reason: 501 chars} → 400 naming reason', async () => {
  rejects(await h.post('revoke', { subscriber_id: 's', reason: 'r'.repeat(501) }), 400, 'validation_error', 'reason');
});

test('POST /update {pool: 7} → 400 naming pool', async () => {
  rejects(await h.post('update', { subscriber_id: 's', pool: 7 }), 400, 'validation_error', 'pool');
});

test('POST /allocate?wait=-1 | abc | over max_wait_ms → 400 naming wait', async () => {
  for (const wait of ['-1', 'abc', '1.5', '60001', '']) {
    rejects(await h.request('POST', `${BASE}/allocate?wait=${wait}`, { json: { subscriber_id: 's' } }), 400, 'validation_error', 'wait');
  }
});

test('POST /allocate?wiat=0 → 400 naming the unknown query parameter', async () => {
  const r = await h.request('POST', `${BASE}/allocate?wiat=0`, { json: { subscriber_id: 's' } });
  rejects(r, 400, 'validation_error', 'wiat', 'unknown query parameter wiat');
});

test('GET /lifecycle?limit=0 | 1001 | x → 400 naming limit', async () => {
  for (const limit of ['0', '1001', 'x']) rejects(await h.get(`${BASE}/lifecycle?limit=${limit}`), 400, 'validation_error', 'limit');
});

test('GET /lifecycle?state=sleeping → 400 naming state', async () => {
  rejects(await h.get(`${BASE}/lifecycle?state=sleeping`), 400, 'validation_error', 'state');
});

test('GET /lifecycle?cursor=not%20a%20cursor → 400 naming cursor', async () => {
  rejects(await h.get(`${BASE}/lifecycle?cursor=not%20a%20cursor`), 400, 'validation_error', 'cursor');
});

test('GET /lifecycle/{subscriber_id} with a control character → 400 naming subscriber_id', async () => {
  rejects(await h.get(`${BASE}/lifecycle/sub%0A42`), 400, 'validation_error', 'subscriber_id');
});

test('POST /allocate with a body over 64 KiB → 413 payload_too_large', async () => {
  const r = await h.post('allocate', { subscriber_id: 's', padding: 'x'.repeat(64 * 1024) });
  rejects(r, 413, 'payload_too_large', null, '65536 bytes');
});

test('POST /allocate with an oversize chunked body (no Content-Length) → 413', async () => {
  const chunks = new ReadableStream({
    start(c) {
      for (let i = 0; i < 20; i++) c.enqueue(new TextEncoder().encode(' '.repeat(4096)));
      c.enqueue(new TextEncoder().encode('{}'));
      c.close();
    },
  });
  const url = `${h.origin}${BASE}/allocate`;
  const res = await fetch(url, { method: 'POST', body: chunks, duplex: 'half', headers: { ...json, authorization: `Bearer ${h.token}` } } as RequestInit);
  assert.is(res.status, 413);
  assert.is(((await res.json()) as { error: { code: string } }).error.code, 'payload_too_large');
});

test('POST /allocate with text/plain → 415 unsupported_media_type', async () => {
  const r = await h.request('POST', `${BASE}/allocate`, { raw: 'subscriber_id=s', headers: { 'content-type': 'text/plain' } });
  rejects(r, 415, 'unsupported_media_type', 'Content-Type', 'application/json');
});

test('POST /allocate with application/x-www-form-urlencoded → 415', async () => {
  const r = await h.request('POST', `${BASE}/allocate`, { raw: 'subscriber_id=s', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  rejects(r, 415, 'unsupported_media_type', 'Content-Type');
});

test('POST /allocate with application/json; charset=utf-8 → 201', async () => {
  const r = await h.request('POST', `${BASE}/allocate`, { raw: '{"subscriber_id":"charset"}', headers: { 'content-type': 'application/json; charset=utf-8' } });
  assert.is(r.status, 201);
});

test('POST /allocate with a blank or ill-formed subscriber_id → 400 naming it; nothing allocated', async () => {
  const before = h.ipam.allocations().length;
  for (const raw of ['{"subscriber_id":"   "}', '{"subscriber_id":"a\\ud83d"}', '{"subscriber_id":"\\udc00"}']) {
    const r = await h.request('POST', `${BASE}/allocate`, { raw, headers: { 'content-type': 'application/json' } });
    assert.equal([r.status, r.body.error.field], [400, 'subscriber_id'], raw);
  }
  const blankUser = await h.post('activate', { subscriber_id: 's', username: '  ' });
  assert.equal([blankUser.status, blankUser.body.error.field], [400, 'username']);
  assert.is(h.ipam.allocations().length, before);
});

test.run();
