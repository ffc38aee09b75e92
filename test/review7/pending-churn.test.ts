// Review 7 (held): revocations whose CPE is offline (GenieACS queues the task: README, "An offline
// CPE is not a failure either. Its step stays in the lifecycle's `pending` list"). As they pile up,
// an allocation, activation and revocation of another subscriber reads no more rows, revoked
// lifecycles with pending work do not stay in memory as actors, the pending figure agrees with the
// lists; and (a service whose pending work comes due at once) once the CPEs come online it is all done.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { inParallel, rowsRead, startService, type Service } from './support.ts';

const test = suite('review7 (held): offline CPEs piling up pending revocations');
let svc: Service;
let nbi: GenieacsNbi;
const ok = (r: { status: number; text: string }, what: string) => assert.ok(r.status < 300, `${what}: ${r.status} ${r.text.slice(0, 200)}`);

test.before(async () => {
  nbi = await startGenieacsNbi();
  svc = await startService(() => ({
    pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
    genieacs: { url: nbi.url, task_timeout_ms: 100 },
    // The scheduled pass is left out of the way: the test runs the job itself.
    runtime: { pending_interval_ms: 3_600_000 },
  }));
});
test.after(async () => {
  await svc.close();
  await nbi.close();
});

/** Subscribers `tag-0..n-1` on offline CPEs: allocated, activated (pending), revoked (pending). */
async function offlineRevocations(tag: string, n: number) {
  await inParallel(n, 8, async (i) => {
    const id = `${tag}-${i}`;
    nbi.addDevice({ id: `CPE-${id}`, mode: 'offline' });
    ok(await svc.post('allocate', { subscriber_id: id }), id);
    ok(await svc.post('activate', { subscriber_id: id, username: id, cpe_id: `CPE-${id}` }), id);
    const r = await svc.post('revoke', { subscriber_id: id });
    assert.is(r.body.state, 'revoked', id);
    assert.equal(r.body.pending.map((p: any) => p.step), ['cpe_remove_ipv6'], id);
  });
}

/** Rows read by the whole life of one more subscriber on an online CPE. */
async function oneLife(id: string): Promise<number> {
  nbi.addDevice({ id: `CPE-${id}` });
  const { total } = await rowsRead(async () => {
    ok(await svc.post('allocate', { subscriber_id: id }), id);
    ok(await svc.post('activate', { subscriber_id: id, username: id, cpe_id: `CPE-${id}` }), id);
    ok(await svc.post('revoke', { subscriber_id: id }), id);
  });
  return total;
}

const gauge = async (line: RegExp) => Number(line.exec((await svc.get('/metrics')).text)?.[1]);

test('pending revocations pile up: one more life costs the same rows, revoked ones leave memory, the pending gauge agrees with the list', async () => {
  await offlineRevocations('few', 5);
  const few = await oneLife('probe-few');
  await offlineRevocations('many', 120);
  const many = await oneLife('probe-many');
  assert.ok(few > 0, `rows read: ${few}`);
  assert.is(many, few, `rows read by one allocate, activate and revoke: ${few} with 5 pending, ${many} with 125`);

  const items = (await svc.get('lifecycle?limit=1000')).body.items as any[];
  const withPending = items.filter((l) => l.pending.length > 0).length;
  assert.is(withPending, 125);
  assert.is(await gauge(/^ipv6_lifecycle_pending_lifecycles (\S+)$/m), withPending, 'the pending gauge');
  assert.ok((await gauge(/^ipv6_lifecycles_in_memory\{kind="actor"\} (\S+)$/m)) < 10, 'revoked lifecycles with pending work are not kept as actors');

});

test('once the CPEs come online, the pending worker removes IPv6 from each and the pending list empties', async () => {
  const quick = await startService(() => ({
    pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
    genieacs: { url: nbi.url, task_timeout_ms: 100 },
    runtime: { pending_interval_ms: 100, pending_backoff_max_ms: 1000 },
  }));
  try {
    const ids = Array.from({ length: 20 }, (_, i) => `back-${i}`);
    for (const id of ids) {
      nbi.addDevice({ id: `CPE-${id}`, mode: 'offline' });
      ok(await quick.post('allocate', { subscriber_id: id }), id);
      ok(await quick.post('activate', { subscriber_id: id, username: id, cpe_id: `CPE-${id}` }), id);
      assert.is((await quick.post('revoke', { subscriber_id: id })).body.pending.length, 1, id);
    }
    for (const id of ids) nbi.inform(`CPE-${id}`);
    // Polled on what the API shows; the worker comes round every 100-200 ms.
    const deadline = Date.now() + 10_000;
    let left: string[] = ids;
    while (left.length > 0 && Date.now() < deadline) {
      const items = (await quick.get('lifecycle?state=revoked&limit=1000')).body.items as any[];
      left = items.filter((l) => l.pending.length > 0).map((l) => l.subscriber_id);
      if (left.length > 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(left, [], 'still pending');
    for (const id of ids) {
      assert.is(nbi.value(`CPE-${id}`, 'Device.DHCPv6.Client.1.Enable'), false, `${id}: PD off`);
      const trail = ((await quick.get(`lifecycle/${id}/events`)).body.events as any[]).map((e) => e.type);
      assert.is(trail.filter((t) => t === 'PENDING_RESOLVED').length, 1, `${id}: ${trail.join(', ')}`);
    }
    assert.match((await quick.get('/metrics')).text, /^ipv6_lifecycle_pending_lifecycles 0$/m);
  } finally {
    await quick.close();
  }
});

test.run();
