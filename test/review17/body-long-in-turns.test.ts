// Review 17 (issue 10): a long JSON body (an import's 50,000 file records, 5.8 MB) was parsed,
// walked for keys given twice (64 ms) and checked for nesting in one turn of the event loop. From
// LONG_BODY on those are turns of their own and the walk goes a stretch a turn; what a client is
// answered is the same: the repeated key named by its path, or the body.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { repeatedKey, repeatedKeyInTurns } from '../../http/json-text.ts';
import { startHarness, type Harness } from '../http/support.ts';
import { turnsDuring } from '../support/event-loop.ts';

const test = suite('review17: a long body checked in turns');
let h: Harness;
test.before(async () => {
  h = await startHarness({ config: { api: { body_limit_bytes: 10 * 1024 * 1024 } } });
});
test.after(async () => h.close());

const texts = [
  '{}',
  '[[],{},[{}]]',
  '{"a":1,"b":{"a":1},"c":[{"a":1},{"a":1}]}',
  '{"a":1,"a":1}',
  '{"a":1, "\\u0061" :2}',
  '{"s":"\\\\\\\\","t":"\\\\\\"","s":0}',
  '{"k":"\\",\\"k\\":"}',
  '[0,[1,{"x":[2,{"y":1,"y":2}]}]]',
  '{"":1,"":2}',
  '{"a":{"b":[{"c":"}{][,:","c":1}]},"d":{"e":1,"f":{"g":[1,2,{"h":1}]},"e":2}}',
  '{"x":[{"p":"1","q":"2"},{"p":"3","r":{"p":1,"p":2}}],"x":0}',
];

test('repeatedKeyInTurns answers as repeatedKey whatever stretch the walk stops at', async () => {
  for (const text of texts) {
    JSON.parse(text);
    for (const stretch of [1, 2, 3, 5, 8, 13, 64, 1 << 20]) assert.is(await repeatedKeyInTurns(text, stretch), repeatedKey(text), `${text} by ${stretch}`);
  }
});

const records = (n: number) => Array.from({ length: n }, (_, i) => ({ subscriber_id: `imp-${i}`, prefix: `2001:db8:${(i >> 8).toString(16)}:${((i & 0xff) << 8).toString(16)}::/56`, state: 'active' }));
/** The import body's text with record `at`'s prefix given twice. */
function twice(n: number, at: number): string {
  const text = JSON.stringify({ sources: { file: { records: records(n) } } });
  const mark = `"subscriber_id":"imp-${at}",`;
  return text.replace(mark, `${mark}"prefix":"2001:db8:ffff::/56",`);
}

test('a 4.8 MB body: the key given twice near its end is found, a stretch per turn of the loop', async () => {
  const text = twice(60_000, 59_000);
  assert.ok(text.length > 4_500_000, `${text.length} characters`);
  let found: string | null = null;
  const turns = await turnsDuring(async () => (found = await repeatedKeyInTurns(text)));
  assert.is(found, 'sources.file.records.59000.prefix');
  assert.is(repeatedKey(text), found);
  assert.ok(turns >= 4, `the loop turned ${turns} time(s) during the walk`);
});

test('POST /import with a long body: a key given twice is a 400 naming it; without, the plan', async () => {
  const bad = twice(4000, 3999);
  assert.ok(bad.length > 256 * 1024, `${bad.length} characters`);
  const res = await h.request('POST', '/api/v1/network/ipv6/import', { raw: bad, headers: { 'content-type': 'application/json' } });
  assert.is(res.status, 400, res.text);
  assert.equal(res.body.error, { code: 'validation_error', message: 'sources.file.records.3999.prefix is given more than once; give it once', field: 'sources.file.records.3999.prefix' });
  const good = await h.request('POST', '/api/v1/network/ipv6/import', { raw: JSON.stringify({ sources: { file: { records: records(4000) } } }), headers: { 'content-type': 'application/json' } });
  assert.is(good.status, 200, good.text.slice(0, 300));
  assert.is(good.body.summary.entries, 4000);
});

test.run();
