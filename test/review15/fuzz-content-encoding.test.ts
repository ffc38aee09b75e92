// A body that does not decode as its Content-Encoding says (`gzip` over plain text, a truncated gzip
// stream, `br` over anything) was 400 "malformed JSON: incorrect header check" with `field: null`:
// the JSON was never reached, the header was what was wrong. It names Content-Encoding now, as the 415
// for an unknown coding does. Seeded: FUZZ_SEED replays a run.
import { request } from 'node:http';
import { gzipSync, deflateSync } from 'node:zlib';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, TOKEN, type Harness } from '../http/support.ts';
import { createRandom } from '../support/soak-random.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 15);
const test = suite('review15 fuzz a body its Content-Encoding does not decode');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

// fetch will not send a Content-Encoding over a body it did not encode itself.
function post(path: string, body: Buffer, encoding: string): Promise<{ status: number; body: any }> {
  const u = new URL(h.origin);
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-encoding': encoding, 'content-length': body.length };
    const req = request({ host: u.hostname, port: u.port, method: 'POST', path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = Buffer.from(JSON.stringify({ subscriber_id: 'ce-1' }));
const CASES: [string, Buffer][] = [
  ['gzip', json],
  ['deflate', json],
  ['br', json],
  ['gzip', gzipSync(json).subarray(0, 12)],
  ['deflate', deflateSync(json).subarray(0, 6)],
  ['br', gzipSync(json)],
];

test('a body that does not decode as its Content-Encoding is 400 naming Content-Encoding, and nothing changes', async () => {
  const r = createRandom(SEED);
  const before = JSON.stringify((await h.get(`${BASE}/lifecycle?limit=1000`)).body);
  for (const [encoding, body] of r.shuffle(CASES)) {
    const op = r.pick(['allocate', 'suspend', 'import', 'jobs/cleanup?dry_run=true']);
    const a = await post(`${BASE}/${op}`, body, encoding);
    assert.is(a.status, 400, `${op} ${encoding}: ${JSON.stringify(a.body)}`);
    assert.is(a.body.error.code, 'validation_error');
    assert.is(a.body.error.field, 'Content-Encoding', `${op} ${encoding}: ${JSON.stringify(a.body)}`);
    assert.not.match(a.body.error.message, /malformed JSON/);
  }
  // What decodes is read as usual.
  assert.is((await post(`${BASE}/allocate`, gzipSync(json), 'gzip')).status, 201);
  assert.is(JSON.stringify((await h.get(`${BASE}/lifecycle?limit=1000`)).body.items.length), String(JSON.parse(before).items.length + 1));
});

// RFC 9110 §8.4.1: a content coding is case-insensitive, and `x-gzip` is gzip. Both were 415.
test('a content coding is read case-insensitively, and x-gzip as gzip', async () => {
  for (const [i, encoding] of ['GZIP', 'Gzip', ' gzip ', 'x-gzip', 'X-GZIP', 'Deflate'].entries()) {
    const body = Buffer.from(JSON.stringify({ subscriber_id: `ce-case-${i}` }));
    const a = await post(`${BASE}/allocate`, encoding.toLowerCase().includes('deflate') ? deflateSync(body) : gzipSync(body), encoding);
    assert.is(a.status, 201, `${encoding}: ${JSON.stringify(a.body)}`);
    assert.is(a.body.subscriber_id, `ce-case-${i}`);
  }
  const a = await post(`${BASE}/allocate`, gzipSync(json), 'compress');
  assert.is(a.status, 415);
  assert.is(a.body.error.field, 'Content-Encoding');
});

test.run();
