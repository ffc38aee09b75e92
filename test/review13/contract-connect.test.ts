// CONNECT is no route's method, and this is no proxy. Node hands it to a 'connect' listener only,
// and with none it closed the connection without an answer, where every other method a route lacks
// is 405 `method_not_allowed` in API.md's error shape.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startHarness, type Harness } from '../http/support.ts';
import { errorOf, raw } from './raw-http.ts';

const test = suite('review13: CONNECT is 405 in the API error shape, not a dropped connection');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

test('CONNECT example.net:443: 405 method_not_allowed, JSON, with an X-Request-Id', async () => {
  const r = errorOf(await raw(h.origin, 'CONNECT example.net:443 HTTP/1.1\r\nHost: example.net:443\r\n\r\n'));
  assert.equal(r, {
    status: 'HTTP/1.1 405 Method Not Allowed',
    json: true,
    requestId: true,
    body: { error: { code: 'method_not_allowed', message: 'CONNECT is not allowed on example.net:443', field: null } },
  });
});

test.run();
