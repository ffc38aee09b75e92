// Issue 8, invariants 3 and 4: every accepted request is carried out or refused, and the answer an
// Idempotency-Key replays is the operation's outcome, also after a crash.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { requestHash } from '../../http/idempotency.ts';
import { createIdempotencyStore } from '../../store/idempotency.ts';
import { BASE, gatedCpe, gatedIpam, pollUntil, startHarness, type Harness } from './support.ts';

const test = suite('http Idempotency-Key outcomes');
let h: Harness;
let dir: string | null = null;
test.after.each(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});
const key = (k: string) => ({ headers: { 'idempotency-key': k } });
const post = (op: string, json: unknown, wait: number | null, headers: Record<string, string> = {}) =>
  h.request('POST', `${BASE}/${op}${wait === null ? '' : `?wait=${wait}`}`, { json, headers });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('POST /allocate without a key while the revocation still runs past its wait → 503 not started, and it never runs', async () => {
  const gate = { g: null as ReturnType<typeof gatedIpam> | null };
  h = await startHarness({ wrapIpam: (fake) => (gate.g = gatedIpam(fake)).port });
  const first = await h.post('allocate', { subscriber_id: 's' });
  gate.g!.close();
  assert.is((await post('revoke', { subscriber_id: 's' }, 0)).status, 202);
  // Only in memory until its turn: a 202 would be lost by a crash (test/review10 queued-not-started).
  const queued = await post('allocate', { subscriber_id: 's' }, 0);
  assert.is(queued.status, 503);
  assert.match(queued.body.error.message, /^allocate not started within \?wait=0 ms/);
  gate.g!.open();
  const revoked = await pollUntil(h, `${BASE}/lifecycle/s`, (b) => b.state === 'revoked');
  assert.is(revoked.body.lifecycle_id, first.body.lifecycle_id, 'nothing allocated after the revocation');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(h.ipam.allocations(), []);
  const again = await post('allocate', { subscriber_id: 's' }, null);
  assert.is(again.status, 201, 'sent again, it runs');
  assert.equal(h.ipam.allocations().map((a) => a.lifecycleId), [again.body.lifecycle_id]);
});

test('POST /allocate with a key while the revocation runs → 202; replays: 202 while running, then the final 201', async () => {
  const gate = { g: null as ReturnType<typeof gatedIpam> | null };
  h = await startHarness({ wrapIpam: (fake) => (gate.g = gatedIpam(fake)).port });
  await h.post('allocate', { subscriber_id: 's' });
  gate.g!.close();
  await post('revoke', { subscriber_id: 's' }, 0);
  const queued = await post('allocate', { subscriber_id: 's' }, 0, key('k-queued').headers);
  assert.is(queued.status, 202);
  const running = await post('allocate', { subscriber_id: 's' }, 20, key('k-queued').headers);
  assert.is(running.status, 202, 'still running: 202 again');
  assert.is(running.headers.get('location'), `${BASE}/lifecycle/s`);
  assert.is(running.headers.get('idempotent-replayed'), 'true');
  gate.g!.open();
  const final = await post('allocate', { subscriber_id: 's' }, null, key('k-queued').headers);
  assert.is(final.status, 201, 'the final outcome, not the 202 first answered');
  assert.is(final.body.state, 'allocated');
  assert.is(final.headers.get('location'), `${BASE}/lifecycle/s`);
  assert.is(final.headers.get('idempotent-replayed'), 'true');
  // Once final, the answer is stored: it stays the same, whatever happens to the lifecycle next.
  await h.post('activate', { subscriber_id: 's', username: 'u' });
  const later = await post('allocate', { subscriber_id: 's' }, null, key('k-queued').headers);
  assert.equal([later.status, later.body], [201, final.body]);
  assert.is(h.ipam.calls.filter((c) => c.method === 'allocate').length, 2, 'the first allocation and the queued one, nothing more');
});

test('POST /activate?wait=0 with a key → 202; once the activation ends, a replay answers its 200', async () => {
  const gate = { g: null as ReturnType<typeof gatedCpe> | null };
  h = await startHarness({ wrapCpe: (port) => (gate.g = gatedCpe(port)).port });
  await h.post('allocate', { subscriber_id: 's' });
  gate.g!.close();
  const body = { subscriber_id: 's', username: 'u', cpe_id: 'CPE-1' };
  assert.is((await post('activate', body, 0, key('k-act').headers)).status, 202);
  gate.g!.open();
  await pollUntil(h, `${BASE}/lifecycle/s`, (b) => b.state === 'active' && b.pending.length === 0);
  await sleep(10);
  const replay = await post('activate', body, 0, key('k-act').headers);
  assert.equal([replay.status, replay.body.state], [200, 'active']);
});

test('kill while an activate with a key is in flight, restart, replay → 200 with the lifecycle the activation produced', async () => {
  dir = mkdtempSync(join(tmpdir(), 'http-crash-'));
  const gate = { g: null as ReturnType<typeof gatedCpe> | null };
  h = await startHarness({ dir, wrapCpe: (port) => (gate.g = gatedCpe(port)).port });
  await h.post('allocate', { subscriber_id: 's' });
  gate.g!.close();
  const body = { subscriber_id: 's', username: 'u', cpe_id: 'CPE-1' };
  // The request is in flight (its CPE step held) when the process dies: it never gets an answer.
  const inflight = post('activate', body, null, key('k-crash').headers).then(
    () => 'answered',
    () => 'no answer',
  );
  // The activation is under way: its event applied (the CPE recorded), its CPE step held.
  await pollUntil(h, `${BASE}/lifecycle/s`, (b) => b.state === 'allocated' && b.cpe_id === 'CPE-1');
  await sleep(20);
  const dead = h;
  h = null as unknown as Harness;
  await dead.close();
  assert.is(await inflight, 'no answer', 'the crash left the request unanswered');

  h = await startHarness({ dir });
  const replay = await post('activate', body, null, key('k-crash').headers);
  assert.is(replay.status, 200, `${replay.status} ${replay.text}`);
  assert.is(replay.body.state, 'active');
  assert.is(replay.body.username, 'u');
  assert.is(replay.body.cpe_id, 'CPE-1');
  assert.is(h.cpe.cpe('CPE-1')?.prefix, replay.body.prefix, 'the restarted service finished the activation');
  const again = await post('activate', body, null, key('k-crash').headers);
  assert.equal([again.status, again.body], [200, replay.body], 'and the outcome is now the stored answer');
  const events = (await h.get(`${BASE}/lifecycle/s/events`)).body.events as { type: string }[];
  assert.is(events.filter((e) => e.type === 'ACTIVATE').length, 1, 'the replay did not send the activation again');
});

test('a key accepted but killed before its event reached the disk → the replay sends the event now, once', async () => {
  h = await startHarness();
  const allocated = await h.post('allocate', { subscriber_id: 's' });
  const body = { subscriber_id: 's', username: 'u' };
  // What a process killed between noting the acceptance and committing the event leaves behind.
  const keys = createIdempotencyStore(h.composed.db);
  keys.begin('k-lost', requestHash('POST', `${BASE}/activate`, body));
  const trail = (await h.get(`${BASE}/lifecycle/s/events`)).body.events as { type: string }[];
  keys.accept('k-lost', { lifecycleId: allocated.body.lifecycle_id, mark: trail.length });
  const replay = await post('activate', body, null, key('k-lost').headers);
  assert.equal([replay.status, replay.body.state], [200, 'active']);
  const events = (await h.get(`${BASE}/lifecycle/s/events`)).body.events as { type: string }[];
  assert.is(events.filter((e) => e.type === 'ACTIVATE').length, 1);
  assert.is(keys.get('k-lost')?.state, 'final');
});

test.run();
