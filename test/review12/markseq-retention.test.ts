// An update with an Idempotency-Key accepted (its UPDATE on disk) when the process died, the audit
// retention run before the replay. The key's mark was the COUNT of the subscriber's audit entries:
// pruning the trail of the subscriber's older, revoked lifecycle shifted that count, `slice(mark)`
// skipped the UPDATE, and the replay renumbered the subscriber a second time. A mark by audit seq
// is not moved by pruning older entries.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { requestHash } from '../../http/idempotency.ts';
import { createAuditRetention } from '../../store/audit-retention.ts';
import { createIdempotencyStore } from '../../store/idempotency.ts';
import { BASE, gatedCpe, pollUntil, startHarness, type Harness } from '../http/support.ts';

const test = suite('review12: a keyed update replayed after the audit retention ran');
let h: Harness | null = null;
let dir: string | null = null;
test.after.each(async () => {
  await h?.close();
  h = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});
const keyed = { 'idempotency-key': 'markseq-update' };
const trail = async (x: Harness) => (await x.get(`${BASE}/lifecycle/s/events`)).body.events as { type: string; lifecycle_id?: string }[];

test('update accepted, killed, older revoked lifecycle pruned, replayed → its outcome, renumbered once', async () => {
  dir = mkdtempSync(join(tmpdir(), 'markseq-'));
  const gate = { g: null as ReturnType<typeof gatedCpe> | null };
  h = await startHarness({ dir, wrapCpe: (port) => (gate.g = gatedCpe(port)).port });
  // An older lifecycle of the subscriber, revoked: its trail is what the retention deletes.
  assert.is((await h.post('allocate', { subscriber_id: 's' })).status, 201);
  assert.is((await h.post('revoke', { subscriber_id: 's' })).status, 200);
  assert.is((await h.post('allocate', { subscriber_id: 's' })).status, 201);
  const active = await h.post('activate', { subscriber_id: 's', username: 'u', cpe_id: 'CPE-1' });
  assert.equal([active.status, active.body.state], [200, 'active']);
  const before = (await trail(h)).length;

  gate.g!.close();
  // In flight (its CPE step held) when the process dies: the UPDATE is on disk, the key pending.
  const inflight = h.request('POST', `${BASE}/update`, { json: { subscriber_id: 's' }, headers: keyed }).then(
    () => 'answered',
    () => 'no answer',
  );
  const sent = await pollUntil(h, `${BASE}/lifecycle/s/events`, (b) => b.events.some((e: { type: string }) => e.type === 'UPDATE'));
  assert.ok(sent.body.events.some((e: { type: string }) => e.type === 'UPDATE'), 'the UPDATE on disk before the crash');
  await new Promise((r) => setTimeout(r, 50));
  const dead = h;
  h = null;
  await dead.close();
  assert.is(await inflight, 'no answer', 'the crash left the update unanswered');

  h = await startHarness({ dir });
  // Resumed at start-up, the update ends: the subscriber renumbered once.
  const resumed = await pollUntil(h, `${BASE}/lifecycle/s`, (b) => b.state === 'active' && b.prefix !== active.body.prefix);
  const moved = resumed.body.prefix as string;
  assert.equal([resumed.body.state, resumed.body.pending], ['active', []]);
  assert.is.not(moved, active.body.prefix, 'the update, resumed, moved the subscriber');
  const pruned = await createAuditRetention(h.composed.db).prune({ before: new Date(Date.now() + 86_400_000).toISOString() });
  assert.ok(pruned > 0, 'the revoked lifecycle\'s trail went');
  assert.ok((await trail(h)).length < before, 'the subscriber has fewer entries than when the update was accepted');

  const replay = await h.request('POST', `${BASE}/update`, { json: { subscriber_id: 's' }, headers: keyed });
  assert.equal([replay.status, replay.body.state], [200, 'active'], replay.text);
  assert.is(replay.body.prefix, moved, 'the replay answers the prefix the accepted update moved to');
  const updates = (await trail(h)).filter((e) => e.type === 'UPDATE');
  assert.is(updates.length, 1, 'one UPDATE in the trail: the replay did not renumber again');
  assert.is((await h.get(`${BASE}/lifecycle/s`)).body.prefix, moved);
});

test('a key noted before mark_seq (a count under `mark`), its update applied, replayed → its outcome, not a second renumbering', async () => {
  h = await startHarness();
  await h.post('allocate', { subscriber_id: 's' });
  const active = await h.post('activate', { subscriber_id: 's', username: 'u' });
  const body = { subscriber_id: 's' };
  // What the version before left of a key accepted when the process died: the count of entries.
  const keys = createIdempotencyStore(h.composed.db);
  keys.begin('k-old', requestHash('POST', `${BASE}/update`, body));
  keys.accept('k-old', { lifecycleId: active.body.lifecycle_id, mark: (await trail(h)).length });
  assert.is(keys.get('k-old')?.body, JSON.stringify({ lifecycleId: active.body.lifecycle_id, mark: (await trail(h)).length }));
  const applied = await h.post('update', body);
  assert.is.not(applied.body.prefix, active.body.prefix);
  const replay = await h.request('POST', `${BASE}/update`, { json: body, headers: { 'idempotency-key': 'k-old' } });
  assert.equal([replay.status, replay.body.prefix], [200, applied.body.prefix], replay.text);
  assert.is((await trail(h)).filter((e) => e.type === 'UPDATE').length, 1);
  assert.is(keys.get('k-old')?.state, 'final');
});

test.run();
