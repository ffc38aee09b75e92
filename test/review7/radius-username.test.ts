// Review 7: RADIUS usernames across subscribers, with radreply in FreeRADIUS's SQLite schema as
// docs/radius.md configures it. radreply is keyed by username: one username carries one
// Delegated-IPv6-Prefix. API.md: `POST /activate` "writes the RADIUS reply attributes"; `POST
// /revoke` is "the full revocation workflow" of that subscriber; a 409 leaves "nothing changed".
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, type Service } from './support.ts';

const SCHEMA = '/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql';
const test = suite('review7: one RADIUS username on two subscribers');
let svc: Service;

const replies = () => {
  const db = new Database(join(svc.dir, 'radius.sqlite'), { readonly: true });
  try {
    return db.prepare("SELECT username, value FROM radreply WHERE attribute = 'Delegated-IPv6-Prefix' ORDER BY username, id").all() as { username: string; value: string }[];
  } finally {
    db.close();
  }
};

test.before(async () => {
  svc = await startService((dir) => ({
    pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
    radius: { sql: { path: join(dir, 'radius.sqlite'), create_schema: true, schema_file: SCHEMA } },
  }));
});
test.after(async () => svc.close());

test('activating a second subscriber with a username an active subscriber has is refused, and the first keeps its radreply', async () => {
  // What a user sees: sub-b's activation with sub-a's username (a typo, or a reused login) answers
  // 200 and overwrites sub-a's Delegated-IPv6-Prefix with sub-b's; revoking sub-a then deletes the
  // username's rows, and sub-b, still `active` in the API, gets no prefix from FreeRADIUS at its
  // next Access-Request. Expected: a 4xx naming `username` (409 like "a subscriber has at most one
  // live lifecycle", or 400) with nothing changed; or, at the very least, sub-b keeping its reply.
  const a = await svc.post('allocate', { subscriber_id: 'sub-a' });
  const b = await svc.post('allocate', { subscriber_id: 'sub-b' });
  assert.is((await svc.post('activate', { subscriber_id: 'sub-a', username: 'shared@isp.example' })).status, 200);
  const second = await svc.post('activate', { subscriber_id: 'sub-b', username: 'shared@isp.example' });
  const after = replies();
  await svc.post('revoke', { subscriber_id: 'sub-a' });
  const bAfterRevoke = (await svc.get('lifecycle/sub-b')).body;
  const left = replies();
  const seen = `second activation ${second.status}; radreply then ${JSON.stringify(after)}; after sub-a's revocation ${JSON.stringify(left)} with sub-b ${bAfterRevoke.state}`;
  assert.ok(second.status >= 400 && second.status < 500, seen);
  assert.is(second.body.error?.field, 'username');
  assert.equal(after, [{ username: 'shared@isp.example', value: a.body.prefix }], 'sub-a keeps its prefix in radreply');
  // If the activation had been allowed, sub-b would need its reply to survive sub-a's revocation.
  if (bAfterRevoke.state === 'active') assert.equal(left, [{ username: 'shared@isp.example', value: b.body.prefix }], 'sub-b active without radreply');
});

test('held: radreply holds exactly the active subscribers\' prefixes after allocate, activate, suspend, reactivate, update and revoke', async () => {
  const want = new Map<string, string>();
  for (let i = 0; i < 12; i++) {
    const id = `churn-${i}`;
    await svc.post('allocate', { subscriber_id: id });
    const act = await svc.post('activate', { subscriber_id: id, username: `user-${i}@isp.example` });
    assert.is(act.status, 200, act.text.slice(0, 200));
    let prefix: string = act.body.prefix;
    if (i % 4 === 1) await svc.post('suspend', { subscriber_id: id });
    if (i % 4 === 2) prefix = (await svc.post('update', { subscriber_id: id })).body.prefix;
    if (i % 4 === 3) {
      await svc.post('suspend', { subscriber_id: id });
      assert.is((await svc.post('reactivate', { subscriber_id: id })).body.state, 'active');
    }
    if (i % 6 === 0) await svc.post('revoke', { subscriber_id: id });
    const state = (await svc.get(`lifecycle/${id}`)).body.state;
    if (state === 'active') want.set(`user-${i}@isp.example`, prefix);
  }
  const got = new Map(replies().filter((r) => r.username.startsWith('user-')).map((r) => [r.username, r.value]));
  assert.equal([...got].sort(), [...want].sort());
});

test.run();
