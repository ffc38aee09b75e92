// API.md: "Errors always have this shape". An HTTP/1.1 request without a Host header is refused by
// Node itself (RFC 9112 §3.2 asks for the 400), before the 'clientError' hook and before Koa: the
// answer was a bare `400 Bad Request` with an empty chunked body, no Content-Type, no X-Request-Id.
// It must be the JSON error every other malformed request gets, and it must still change nothing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';
import { raw as rawTo, type RawAnswer } from './raw-http.ts';

const test = suite('review13: an HTTP/1.1 request without Host is 400 in the API error shape');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

const raw = (bytes: string) => rawTo(h.origin, bytes);

const hostless = (method: string, path: string, more = '', body = '') =>
  `${method} ${path} HTTP/1.1\r\nAuthorization: Bearer ${h.token}\r\n${more}Connection: close\r\n\r\n${body}`;

function assertShape(r: RawAnswer, what: string) {
  assert.is(r.statusLine, 'HTTP/1.1 400 Bad Request', what);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/, `${what}: Content-Type`);
  assert.ok(r.headers['x-request-id'], `${what}: X-Request-Id`);
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(r.body);
  } catch {
    assert.unreachable(`${what}: the body is not JSON: ${JSON.stringify(r.body)}`);
  }
  assert.equal(parsed, { error: { code: 'validation_error', message: 'malformed HTTP request: an HTTP/1.1 request needs a Host header', field: 'Host' } }, what);
}

test('GET /healthz HTTP/1.1 without Host: 400 validation_error naming Host, JSON, with an X-Request-Id', async () => {
  assertShape(await raw(hostless('GET', '/healthz')), 'GET /healthz');
});

test('POST /allocate HTTP/1.1 without Host: the same 400, and no lifecycle is created', async () => {
  const body = JSON.stringify({ subscriber_id: 'hostless-1' });
  const r = await raw(hostless('POST', `${BASE}/allocate`, `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`, body));
  assertShape(r, 'POST /allocate');
  assert.is((await h.get(`${BASE}/lifecycle/hostless-1`)).status, 404);
});

test('HTTP/1.0 needs no Host, and HTTP/1.1 with one is served as before', async () => {
  const old = await raw('GET /healthz HTTP/1.0\r\n\r\n');
  assert.is(old.statusLine, 'HTTP/1.1 200 OK');
  assert.equal(JSON.parse(old.body), { status: 'ok' });
  const withHost = await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.is(withHost.statusLine, 'HTTP/1.1 200 OK');
  assert.equal(JSON.parse(withHost.body), { status: 'ok' });
});

test.run();
