// Review 12 (restore12, adopt12): after a restore from an older backup, NetBox holds the prefixes of
// the 20 subscribers allocated since the backup under the marks of lifecycles the store forgot. The
// documented repair, POST /import with the mark's subscriber, plans to adopt them: the apply must
// adopt the same 20 (under the lifecycle ids their marks name), and neither the leak check nor the
// reconciliation may then read any of them as a leak or an orphan.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { usernameOf } from '../support/soak-peers.ts';
import { AFTER, restoredFromOlderBackup, UPDATED, type Restored } from './restore-rig.ts';

type Entry = { subscriber_id: string; prefix: string; lifecycle_id: string; action: string; conflicts: { kind: string }[] };
const body = { sources: { netbox: { subscriber: { custom_field: 'lifecycle_subscriber_id' } }, radius: {} } };
/** The lifecycle id NetBox's mark names, by prefix. */
const marks = () => new Map(r.peers.netbox.prefixes().map((p) => [p.prefix, p.customFields.lifecycle_id]));
let leakedBefore = NaN;

const test = suite('review12: the adoption of prefixes under forgotten lifecycles\' marks');
let r: Restored;
test.before(async () => {
  r = await restoredFromOlderBackup();
});
test.after(async () => {
  await r?.close();
});

test('the adoption adopts what its plan says it adopts: the 20 subscribers the store forgot', async () => {
  leakedBefore = (await r.call('POST', 'jobs/leaks?dry_run=true')).body.counts.leaked;
  const plan = await r.call('POST', 'import', body);
  const adopt = plan.body.entries.filter((e: { action: string }) => e.action === 'adopt').map((e: { subscriber_id: string }) => e.subscriber_id).sort();
  assert.equal(adopt, [...AFTER].sort(), 'the plan adopts the 20');
  const applied = await r.call('POST', 'import?dry_run=false', body);
  assert.equal(applied.body.applied.failed.map((f: { error: string }) => f.error).slice(0, 2), [], 'none fails');
  assert.is(applied.body.applied.adopted, AFTER.length);
});

test('each is adopted under the lifecycle its mark names, on the prefix and in the state it had before the restore', async () => {
  const mark = marks();
  for (const s of AFTER) {
    const l = (await r.call('GET', `lifecycle/${s}`)).body;
    assert.type(mark.get(l.prefix), 'string', `${s}: NetBox's mark of ${l.prefix}`);
    assert.equal([l.prefix, l.state, l.lifecycle_id], [r.before.get(s)!.prefix, 'active', mark.get(l.prefix)], s);
  }
  const again = (await r.call('POST', 'import', body)).body.entries as Entry[];
  const of = new Map(again.map((e) => [e.subscriber_id, e]));
  assert.equal(AFTER.map((s) => of.get(s)?.action), AFTER.map(() => 'adopted'), 'a rerun finds them adopted');
  // A mark of a lifecycle the store has, holding another prefix (updated since the backup), stays a conflict.
  const updated = again.filter((e) => UPDATED.includes(e.subscriber_id) && e.action !== 'adopted').sort((a, b) => a.subscriber_id.localeCompare(b.subscriber_id));
  assert.equal(updated.map((e) => [e.subscriber_id, e.action, e.conflicts.some((c) => c.kind === 'marked_lifecycle')]), UPDATED.map((s) => [s, 'conflict', true]));
});

test('neither the leak job nor the reconciliation reads an adopted one as a leak, an orphan or missing', async () => {
  const held = AFTER.map((s) => r.before.get(s)!.prefix);
  const dry = (await r.call('POST', 'jobs/leaks?dry_run=true')).body;
  assert.is(dry.counts.leaked, leakedBefore - AFTER.length, `leaked before the adoption ${leakedBefore}, now ${dry.counts.leaked}`);
  await r.call('POST', 'jobs/leaks');
  const inNetbox = new Set(r.peers.netbox.prefixes().map((p) => p.prefix));
  assert.equal(held.filter((p) => !inNetbox.has(p)), [], 'the leak job freed none of them');
  await r.call('POST', 'jobs/reconcile?dry_run=true');
  const items = (await r.call('GET', 'reconciliation?limit=1000')).body.items as { kind: string; prefix: string | null; subscriber_id: string | null; username: string | null }[];
  const users = new Set(AFTER.map(usernameOf));
  const theirs = items.filter((i) => held.includes(i.prefix ?? '') || AFTER.includes(i.subscriber_id ?? '') || users.has(i.username ?? ''));
  assert.equal(theirs.map((i) => `${i.kind} ${i.prefix} ${i.subscriber_id}`), [], 'no difference names them');
});

test.run();
