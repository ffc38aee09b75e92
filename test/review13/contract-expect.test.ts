// An `Expect` other than 100-continue: Node answered it itself with a bare 417 and an empty chunked
// body (its default 'checkExpectation'), outside API.md's "Errors always have this shape". It is a
// 400 `validation_error` naming the header (RFC 9110 §10.1.1 leaves the 417 optional, and the error
// table has no code for it), and the request reaches no route. 100-continue still works.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';
import { errorOf, raw } from './raw-http.ts';

const test = suite('review13: Expect other than 100-continue is 400 in the API error shape, and changes nothing');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

const post = (id: string, expect: string) => {
  const body = JSON.stringify({ subscriber_id: id });
  return `POST ${BASE}/allocate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.token}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: ${expect}\r\nConnection: close\r\n\r\n${body}`;
};

test('POST /allocate with Expect: 202-accepted: 400 validation_error naming Expect, and no lifecycle', async () => {
  const r = errorOf(await raw(h.origin, post('expect-1', '202-accepted')));
  assert.equal(r, {
    status: 'HTTP/1.1 400 Bad Request',
    json: true,
    requestId: true,
    body: { error: { code: 'validation_error', message: 'malformed HTTP request: Expect can only be 100-continue', field: 'Expect' } },
  });
  assert.is((await h.get(`${BASE}/lifecycle/expect-1`)).status, 404);
});

test('POST /allocate with Expect: 100-continue is served: 100, then 201', async () => {
  const r = await raw(h.origin, post('expect-2', '100-continue'));
  assert.is(r.statusLine, 'HTTP/1.1 100 Continue');
  assert.match(r.body, /^HTTP\/1\.1 201 Created\r\n/, JSON.stringify(r.body.slice(0, 200)));
  assert.is((await h.get(`${BASE}/lifecycle/expect-2`)).body.state, 'allocated');
});

test.run();
