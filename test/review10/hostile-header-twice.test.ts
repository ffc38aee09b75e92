// Review 10 (hostile): Node keeps the first of two `Authorization` or `Content-Type` lines and drops
// the other, so `POST /revoke` with the token and then a wrong one revoked the subscriber, and a body
// labelled `application/json` and then `text/plain` was read as JSON. A proxy or a log in front may
// read the last line where Node keeps the first, as with a repeated query parameter or JSON key
// (docs/api.md, "The request line"): each of these headers given twice is 400 naming it, and nothing
// changes. Sent over a raw socket: fetch folds repeated headers into one.
import { connect } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startService, TOKEN, type Service } from '../review7/support.ts';

const test = suite('review10 (hostile): Authorization, Content-Type or Idempotency-Key given twice');
let svc: Service;

test.before(async () => {
  svc = await startService(() => ({}));
  await svc.post('allocate', { subscriber_id: 'victim' });
});
test.after(async () => svc.close());

/** POST `${BASE}/${path}` with `headers` as they are, one line each; the status and the parsed body. */
function rawPost(path: string, headers: [string, string][], body: string): Promise<{ status: number; body: any }> {
  const { port } = new URL(svc.origin);
  const lines = [`POST ${BASE}/${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...headers.map(([n, v]) => `${n}: ${v}`), `Content-Length: ${Buffer.byteLength(body)}`];
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`));
    let text = '';
    socket.on('data', (d) => (text += d.toString('utf8')));
    socket.on('error', reject);
    socket.on('end', () => {
      const at = text.indexOf('\r\n\r\n');
      try {
        resolve({ status: Number(text.split(' ')[1]), body: JSON.parse(text.slice(at + 4)) });
      } catch {
        reject(new Error(`not a JSON answer: ${text.slice(0, 200)}`));
      }
    });
  });
}

const json: [string, string] = ['Content-Type', 'application/json'];
const auth: [string, string] = ['Authorization', `Bearer ${TOKEN}`];

test('POST /revoke with the token and then a wrong one (or the reverse) → 400 naming Authorization; still allocated', async () => {
  for (const pair of [[auth, ['Authorization', 'Bearer wrong']], [['authorization', 'Bearer wrong'], auth]] as [string, string][][]) {
    const r = await rawPost('revoke?wait=0', [...pair, json], JSON.stringify({ subscriber_id: 'victim' }));
    assert.is(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error, { code: 'validation_error', message: 'header Authorization is given 2 times; give it once', field: 'Authorization' });
  }
  assert.is((await svc.get('lifecycle/victim')).body.state, 'allocated');
});

test('POST /allocate labelled application/json and then text/plain → 400 naming Content-Type; nothing allocated', async () => {
  const r = await rawPost('allocate', [auth, json, ['Content-Type', 'text/plain']], JSON.stringify({ subscriber_id: 'twice-typed' }));
  assert.is(r.status, 400, JSON.stringify(r.body));
  assert.is(r.body.error.field, 'Content-Type');
  assert.is((await svc.get('lifecycle/twice-typed')).status, 404);
});

test('POST /allocate with Idempotency-Key given twice → 400 saying so, naming Idempotency-Key', async () => {
  const r = await rawPost('allocate', [auth, json, ['Idempotency-Key', 'a'], ['Idempotency-Key', 'b']], JSON.stringify({ subscriber_id: 'twice-keyed' }));
  assert.is(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.error, { code: 'validation_error', message: 'header Idempotency-Key is given 2 times; give it once', field: 'Idempotency-Key' });
  assert.is((await svc.get('lifecycle/twice-keyed')).status, 404);
});

test('each header once, as a client sends it → served', async () => {
  const r = await rawPost('allocate', [auth, json, ['Idempotency-Key', 'once']], JSON.stringify({ subscriber_id: 'once' }));
  assert.is(r.status, 201, JSON.stringify(r.body));
});

test.run();
