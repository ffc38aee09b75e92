// Review 7: request bodies an orchestration system can send by mistake: bytes that are not UTF-8
// (a Latin-1 encoder: "café" as 63 61 66 E9) and a field given twice. API.md, Conventions: "JSON in
// and out", 400 `validation_error` for "malformed JSON, missing or ill-typed field (`field` names
// it)"; README: "Bad input gets a 4xx that names the field, and nothing changes; so does a malformed
// URL (bad percent-encoding, a repeated query parameter, …)". The path and the query already refuse
// bytes that are not UTF-8 and repeated parameters (docs/api.md, "The request line"); the body does not.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, TOKEN, type Service } from './support.ts';

const test = suite('review7: request bodies with bytes that are not UTF-8, or a field given twice');
let svc: Service;

test.before(async () => {
  svc = await startService(() => ({ pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }] }));
});
test.after(async () => svc.close());

const latin1 = (json: string) => Buffer.from(json, 'latin1');

test('POST /allocate whose subscriber_id is not UTF-8 is 400, and two such subscribers never become one', async () => {
  // What a user sees: "café" and "cafè" sent by a Latin-1 client both read as "caf\uFFFD"; the
  // second allocate answers 200 with the first subscriber's lifecycle and prefix, and a revoke of
  // either takes the other's prefix away. Expected: 400 validation_error (the body is not JSON
  // text, RFC 8259 §8.1), nothing allocated, as the path does for the same bytes.
  const first = await svc.post('allocate', latin1('{"subscriber_id":"caf\u00e9"}'));
  const second = await svc.post('allocate', latin1('{"subscriber_id":"caf\u00e8"}'));
  const list = await svc.get('lifecycle');
  assert.is(first.status, 400, `first: ${first.status} ${first.text.slice(0, 200)}`);
  assert.is(second.status, 400, `second: ${second.status} ${second.text.slice(0, 200)}`);
  assert.is(list.body.items.length, 0, 'nothing allocated');
});

test('the same bytes in a chunked body (the body parser\'s path) are 400 too', async () => {
  // A body without Content-Length goes through @koa/bodyparser instead of http/body.ts's reader.
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(latin1('{"subscriber_id":"na\u00efve"}'));
      c.close();
    },
  });
  const res = await fetch(`${svc.origin}/api/v1/network/ipv6/allocate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: stream,
    duplex: 'half',
  } as RequestInit);
  const text = await res.text();
  assert.is(res.status, 400, `${res.status} ${text.slice(0, 200)}`);
});

test('POST /allocate with subscriber_id given twice is 400 naming subscriber_id, and nothing is allocated', async () => {
  // What a user sees: {"subscriber_id":"sub-a","subscriber_id":"sub-b"} allocates sub-b (the last
  // one wins), while a proxy, an audit log or a WAF in front that reads the first sees sub-a.
  // Expected: 400 validation_error with field "subscriber_id", as a repeated query parameter is.
  const res = await svc.post('allocate', '{"subscriber_id":"dup-a","subscriber_id":"dup-b"}');
  assert.is(res.status, 400, `${res.status} ${res.text.slice(0, 200)}`);
  assert.is(res.body.error?.field, 'subscriber_id');
  assert.is((await svc.get('lifecycle/dup-b')).status, 404, 'dup-b was not allocated');
});

test('held: a literal U+FFFD or any well-formed non-ASCII id is its own subscriber, read back as sent', async () => {
  const ids = ['h\u00e9ld', 'he\u0301ld', 'held\ufffd', '\u65e5\u672c', '\u{1f642}'];
  const prefixes = new Set<string>();
  for (const id of ids) {
    const a = await svc.post('allocate', { subscriber_id: id });
    assert.is(a.status, 201, `${id}: ${a.text.slice(0, 200)}`);
    assert.is(a.body.subscriber_id, id);
    prefixes.add(a.body.prefix);
    const g = await svc.get(`lifecycle/${encodeURIComponent(id)}`);
    assert.is(g.body.subscriber_id, id);
  }
  assert.is(prefixes.size, ids.length, 'one prefix each');
});

test.run();
