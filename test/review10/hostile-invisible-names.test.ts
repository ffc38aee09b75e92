// Review 10 (hostile): a new subscriber_id or a username could hold characters that show as nothing
// (bidi overrides U+202E, zero-width U+200B, U+FEFF, the line separators U+2028/U+2029): "sub-42"
// and "sub-42\u200b" were two subscribers that look alike in every log, list and RADIUS record, and a
// bidi override turns a log line around. Refused where a name starts (allocate, activate); a
// subscriber that exists is still served. A blank subscriber_id was refused, but the document's
// pattern allowed it: the pattern says so now.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, type Service } from '../review7/support.ts';

const test = suite('review10 (hostile): invisible characters in new names');
let svc: Service;

test.before(async () => {
  svc = await startService(() => ({}));
});
test.after(async () => svc.close());

const INVISIBLE = ['\u202e', '\u200b', '\u200d', '\ufeff', '\u2028', '\u2029', '\u2066', '\u00ad', '\u061c', '\u2060'];

test('POST /allocate with an invisible character in subscriber_id → 400 naming it, nothing allocated', async () => {
  for (const ch of INVISIBLE) {
    const id = `sub-${ch}42`;
    const r = await svc.post('allocate', { subscriber_id: id });
    assert.is(r.status, 400, JSON.stringify(ch));
    assert.is(r.body.error.field, 'subscriber_id');
    assert.match(r.body.error.message, /invisible/);
    assert.is((await svc.get(`lifecycle/${encodeURIComponent(id)}`)).status, 404);
  }
  const metrics = await svc.get('metrics');
  assert.is(metrics.body.states.allocated ?? 0, 0);
});

test('POST /activate with an invisible character in username → 400 naming it, the lifecycle stays allocated', async () => {
  assert.is((await svc.post('allocate', { subscriber_id: 'sub-vis' })).status, 201);
  for (const ch of INVISIBLE) {
    const r = await svc.post('activate', { subscriber_id: 'sub-vis', username: `alice${ch}@example.net` });
    assert.is(r.status, 400, JSON.stringify(ch));
    assert.is(r.body.error.field, 'username');
  }
  assert.is((await svc.get('lifecycle/sub-vis')).body.state, 'allocated');
});

test('names people type still pass: accents, CJK, emoji, spaces inside', async () => {
  for (const id of ['café-7', '用户-8', 'sub 9', 'x😀']) assert.is((await svc.post('allocate', { subscriber_id: id })).status, 201, id);
});

test('the document\'s subscriber_id pattern refuses a blank id, as the service does', async () => {
  const doc = (await svc.get('/openapi.json')).body as { paths: Record<string, { post?: { requestBody: { content: Record<string, { schema: unknown }> } } }> };
  const schema = JSON.stringify(doc.paths['/api/v1/network/ipv6/allocate']!.post!.requestBody.content['application/json']!.schema);
  const patterns = [...schema.matchAll(/"pattern":"((?:[^"\\]|\\.)*)"/g)].map((m) => new RegExp(JSON.parse(`"${m[1]}"`) as string, 'u'));
  assert.ok(patterns.length > 0);
  assert.ok(patterns.some((p) => !p.test('   ')), 'some pattern refuses "   "');
  assert.ok(patterns.some((p) => !p.test('a\u202eb')), 'some pattern refuses a bidi override');
  assert.ok(patterns.every((p) => p.test('sub-42')));
  assert.is((await svc.post('allocate', { subscriber_id: '   ' })).status, 400);
});

test.run();
