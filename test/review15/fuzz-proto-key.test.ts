// A `__proto__` key is well-formed JSON (RFC 8259 puts no name off limits) that the body parser refuses
// so that no handler merges it into a prototype; the refusal said "malformed JSON" with `field: null`
// where every other unknown field is named by its path. Seeded: FUZZ_SEED replays a run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';
import { createRandom } from '../support/soak-random.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 15);
const test = suite('review15 fuzz a __proto__ key is named');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

// [route, body text, the field the 400 names]
const CASES: [string, string, string][] = [
  ['allocate', '{"subscriber_id":"pk-1","__proto__":{"x":1}}', '__proto__'],
  ['allocate', '{"subscriber_id":"pk-1","\\u005f_proto__":null}', '__proto__'],
  ['activate', '{"__proto__":{"subscriber_id":"pk-1"},"username":"u@x"}', '__proto__'],
  ['import', '{"sources":{"file":{"records":[{"subscriber_id":"pk-2","prefix":"2001:db8:42::/56","__proto__":{}}]}}}', 'sources.file.records.0.__proto__'],
  ['jobs/cleanup?dry_run=true', '{"__proto__":[]}', '__proto__'],
];

test('a body with a __proto__ key is 400 naming it by its path, and nothing changes', async () => {
  const before = JSON.stringify((await h.get(`${BASE}/lifecycle?limit=1000`)).body);
  for (const [route, raw, field] of createRandom(SEED).shuffle(CASES)) {
    const a = await h.request('POST', `${BASE}/${route}`, { raw, headers: { 'content-type': 'application/json' } });
    assert.is(a.status, 400, `${route} ${raw}: ${a.text}`);
    assert.is(a.body.error.code, 'validation_error');
    assert.is(a.body.error.field, field, `${route} ${raw}: ${a.text}`);
    assert.not.match(a.body.error.message, /malformed JSON/);
  }
  assert.is(JSON.stringify((await h.get(`${BASE}/lifecycle?limit=1000`)).body), before);
  assert.is((await h.get(`${BASE}/lifecycle/pk-1`)).status, 404);
});

test.run();
