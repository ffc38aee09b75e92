// One RADIUS username per live lifecycle (runtime/usernames.ts): radreply is keyed by username, so
// a second holder would overwrite the first's reply and lose its own at the first's revocation.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeRadiusReplyStore } from '../../services/radius/fake.ts';
import { BASE, startHarness, type Harness } from './support.ts';

const test = suite('http: a RADIUS username on one live lifecycle at a time');
let h: Harness;
let replies: FakeRadiusReplyStore;
test.before.each(async () => {
  replies = new FakeRadiusReplyStore();
  h = await startHarness({ replies });
});
test.after.each(async () => h.close());

const prefixes = (username: string) => replies.rowsOf(username).filter((r) => r.attribute === 'Delegated-IPv6-Prefix').map((r) => r.value);

test('five subscribers activated at once with one username → one 200, four 409 username_in_use naming the field, one reply', async () => {
  const ids = ['s-0', 's-1', 's-2', 's-3', 's-4'];
  const prefix = new Map<string, string>();
  for (const id of ids) prefix.set(id, (await h.post('allocate', { subscriber_id: id })).body.prefix);
  const answers = await Promise.all(ids.map((id) => h.post('activate', { subscriber_id: id, username: 'shared@isp.example' })));
  const won = answers.flatMap((a, i) => (a.status === 200 ? [ids[i]!] : []));
  assert.is(won.length, 1, answers.map((a) => `${a.status} ${a.text.slice(0, 120)}`).join('\n'));
  for (const a of answers.filter((x) => x.status !== 200)) {
    assert.is(a.status, 409);
    assert.is(a.body.error.code, 'username_in_use');
    assert.is(a.body.error.field, 'username');
    assert.match(a.body.error.message, new RegExp(`subscriber ${won[0]}\\b`));
  }
  assert.equal(prefixes('shared@isp.example'), [prefix.get(won[0]!)]);
  // Nothing changed for the refused: still allocated, no activation in their trail.
  for (const id of ids.filter((i) => i !== won[0])) {
    assert.is((await h.get(`${BASE}/lifecycle/${id}`)).body.state, 'allocated');
    assert.equal(((await h.get(`${BASE}/lifecycle/${id}/events`)).body.events as any[]).map((e) => e.type).filter((t) => t === 'ACTIVATE'), []);
  }
});

test('the username is free again once its holder is revoked, and a suspended holder still holds it', async () => {
  await h.post('allocate', { subscriber_id: 'a' });
  const b = await h.post('allocate', { subscriber_id: 'b' });
  assert.is((await h.post('activate', { subscriber_id: 'a', username: 'u@isp' })).status, 200);
  assert.is((await h.post('suspend', { subscriber_id: 'a' })).body.state, 'suspended');
  assert.is((await h.post('activate', { subscriber_id: 'b', username: 'u@isp' })).status, 409);
  assert.is((await h.post('revoke', { subscriber_id: 'a' })).body.state, 'revoked');
  const taken = await h.post('activate', { subscriber_id: 'b', username: 'u@isp' });
  assert.is(taken.status, 200, taken.text);
  assert.equal(prefixes('u@isp'), [b.body.prefix]);
});

test.run();
