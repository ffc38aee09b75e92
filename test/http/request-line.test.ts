// What reaches the service before any route: the request line and headers as Node parsed them.
// Each answer has the service's error shape, never a 500 or Node's bare status line.
import { request } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from './support.ts';

const test = suite('http request line');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

/** A GET through node:http, which (unlike fetch) sends any URL and header size as given. */
function rawGet(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: any }> {
  const u = new URL(h.origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: { authorization: `Bearer ${h.token}`, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* asserted below */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function errorShape(r: { status: number; headers: Record<string, unknown>; body: any }, status: number, code: string) {
  assert.is(r.status, status, JSON.stringify(r.body));
  assert.type(r.body, 'object', `a JSON body, not ${JSON.stringify(r.body)}`);
  assert.equal(Object.keys(r.body), ['error']);
  assert.equal(Object.keys(r.body.error), ['code', 'message', 'field']);
  assert.is(r.body.error.code, code);
  assert.match(String(r.headers['content-type']), /application\/json/);
  assert.ok(r.headers['x-request-id'], 'X-Request-Id on every answer');
}

test('malformed percent-encoding in the path → 400 naming the problem', async () => {
  const r = await rawGet(`${BASE}/lifecycle/%E0%A4%A`);
  errorShape(r, 400, 'validation_error');
  assert.match(r.body.error.message, /percent-encoding/);
  assert.match(r.body.error.message, /path/);
});

test('percent-encoding of invalid UTF-8 in the path → 400', async () => {
  const r = await rawGet(`${BASE}/lifecycle/sub-%FF`);
  errorShape(r, 400, 'validation_error');
  assert.match(r.body.error.message, /percent-encoding/);
});

test('malformed percent-encoding in a query parameter → 400 naming the parameter', async () => {
  const r = await rawGet(`${BASE}/lifecycle?pool=%E0%A4%A`);
  errorShape(r, 400, 'validation_error');
  assert.is(r.body.error.field, 'pool');
  assert.match(r.body.error.message, /percent-encoding/);
});

test('a well-formed encoded path still reaches the route', async () => {
  const r = await rawGet(`${BASE}/lifecycle/${encodeURIComponent('süb 1')}`);
  errorShape(r, 404, 'not_found');
  assert.match(r.body.error.message, /süb 1/);
});

test('a repeated query parameter → 400 naming it, not "expected string, received array"', async () => {
  const r = await rawGet(`${BASE}/lifecycle?state=active&state=revoked`);
  errorShape(r, 400, 'validation_error');
  assert.is(r.body.error.field, 'state');
  assert.match(r.body.error.message, /state.*(more than once|once)/);
  const w = await h.request('POST', `${BASE}/allocate?wait=1&wait=2`, { json: { subscriber_id: 'rep' } });
  assert.is(w.status, 400);
  assert.is(w.body.error.field, 'wait');
  assert.match(w.body.error.message, /once/);
});

test('an over-long URL → 414 in the JSON error shape', async () => {
  const r = await rawGet(`${BASE}/lifecycle/${'a'.repeat(9000)}`);
  errorShape(r, 414, 'uri_too_long');
});

test('a URL beyond the header limit → 431 in the JSON error shape, not Node’s bare answer', async () => {
  const r = await rawGet(`${BASE}/lifecycle/${'a'.repeat(20000)}`);
  errorShape(r, 431, 'headers_too_large');
});

test('over-long headers → 431 in the JSON error shape', async () => {
  const r = await rawGet(`${BASE}/lifecycle/x`, { 'x-big': 'a'.repeat(20000) });
  errorShape(r, 431, 'headers_too_large');
  assert.match(r.body.error.message, /header/);
});

test.run();
