// The scheduled clean-up (POST /jobs/cleanup, the job the cron runs) killed with SIGKILL while it
// revokes a batch of stale allocations with NetBox serving the pool: some revocations done, some
// in flight, some not begun. After the restart and the job run again, through the API and NetBox:
// every stale lifecycle revoked, its block released (held down) once and not held under our mark
// as allocated, nothing leaked, each REVOKE recorded once and the trail ending revoked.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { peerAvailable } from '../support/freeradius.ts';
import { startRig, type Rig } from '../review12/update-rig.ts';

const NAME = 'review14: the clean-up killed while it revokes stale allocations';
const N = 24;
if (peerAvailable(NAME)) {
  const test = suite(NAME);
  let r: Rig;
  test.before(async () => {
    r = await startRig([], { tiny: false, runtime: { stale_allocated_after_s: 1 } });
  });
  test.after(() => r.close());
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  const subs = Array.from({ length: N }, (_, i) => `stale-${i}`);
  const mine = (status: string) => r.held().filter((h) => subs.includes(String(h.subscriber)) && h.status === status);

  test('SIGKILL mid-clean-up → the rerun revokes the rest; every block released once, none lost or leaked', async () => {
    const prefixes = new Map<string, string>();
    for (const s of subs) prefixes.set(s, (await r.call('POST', 'allocate', { subscriber_id: s })).body.prefix);
    await sleep(1100);
    r.netbox.delayMs = 20;
    const job = r.call('POST', 'jobs/cleanup').catch(() => null);
    for (const end = Date.now() + 20_000; mine('deprecated').length < 3; await sleep(1)) if (Date.now() > end) throw new Error('no revocation reached NetBox');
    await r.svc.kill();
    await job;
    const atKill = mine('deprecated').length;
    assert.ok(atKill < N, `the kill came before the end (${atKill} released)`);
    r.netbox.delayMs = 0;
    await r.svc.start();
    await r.svc.ready();
    const again = await r.call('POST', 'jobs/cleanup');
    assert.is(again.status, 200, JSON.stringify(again.body));
    for (let i = 0; i < 200; i++) {
      const states = await Promise.all(subs.map(async (s) => (await r.call('GET', `lifecycle/${s}`)).body.state));
      if (states.every((x) => x === 'revoked')) break;
      if (i === 199) assert.unreachable(`not all revoked: ${states.join(', ')}`);
      await sleep(50);
    }
    assert.is(mine('active').length, 0, 'no block still allocated under our mark');
    const released = mine('deprecated');
    assert.is(released.length, N, 'each block released (held down) once');
    for (const s of subs) assert.equal(released.filter((h) => h.subscriber === s).map((h) => h.prefix), [prefixes.get(s)], s);
    assert.is(r.netbox.prefixes().filter((p) => p.customFields[MARK_FIELDS.subscriberId] !== undefined && subs.includes(String(p.customFields[MARK_FIELDS.subscriberId]))).length, N);
    for (const s of subs) {
      const ev = await r.events(s);
      assert.is(ev.filter((e) => e.type === 'REVOKE').length, 1, `${s}: ${ev.map((e) => e.type).join(', ')}`);
      assert.is(ev.at(-1)?.to, 'revoked', s);
    }
    const leaks = await r.call('POST', 'jobs/leaks');
    assert.equal([leaks.status, leaks.body.counts?.leaked], [200, 0], JSON.stringify(leaks.body));
  });

  test.run();
}
