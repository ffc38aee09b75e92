// A rolled-back update whose new block NetBox would not take back (5xx) leaves a pending
// netbox_release step (review13 update-netbox-outage). That test kills the service while the step
// waits; these kill it while the give-back runs (NetBox applied the PATCH, the answer was lost) and
// just after NetBox applied it, and kill the rollback itself (radreply back on the old prefix, the
// give-back still refused after the restart: it must come back pending, not lost), then check
// through the API and the stand-ins: active on the old prefix, the new block released once and
// held down, nothing leaked, the step finished, not lost, the audit trail only appended to, RADIUS
// and the CPE on the old prefix.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { peerAvailable } from '../support/freeradius.ts';
import { startRig, type Rig } from '../review12/update-rig.ts';

const NAME = 'review14: SIGKILL during and after the give-back of a rolled-back update';
if (peerAvailable(NAME)) {
  const test = suite(NAME);
  let r: Rig;
  test.before(async () => {
    r = await startRig(['during', 'after', 'rollback'], { tiny: false });
  });
  test.after(() => r.close());
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  const mine = (s: string) => r.held().filter((h) => h.subscriber === s);
  const until = async <T>(what: string, probe: () => T | Promise<T>, ms = 10_000): Promise<NonNullable<T>> => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(1)) {
      const got = await probe();
      if (got) return got as NonNullable<T>;
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  /** An update whose new block NetBox made (answer lost), then an outage: rolled back, the block pending release. */
  async function rolledBack(s: string): Promise<{ old: string; made: string }> {
    const old = await r.activeSubscriber(s);
    const before = r.netbox.created;
    r.netbox.loseAnswers(1, { method: 'POST' });
    const watch = setInterval(() => {
      if (r.netbox.created > before) r.netbox.setDown(true), clearInterval(watch);
    }, 1);
    const got = await r.call('POST', 'update', { subscriber_id: s });
    clearInterval(watch);
    r.netbox.failNext(1000, { method: 'PATCH', status: 503 });
    r.netbox.setDown(false);
    const l = (await r.call('GET', `lifecycle/${s}`)).body;
    assert.equal([got.status, l.state, l.prefix, l.pending.map((p: { step: string }) => p.step)], [502, 'active', old, ['netbox_release']], JSON.stringify(l));
    const made = mine(s).filter((h) => h.prefix !== old).map((h) => h.prefix);
    assert.equal(made.length, 1, 'NetBox holds the new block under our mark');
    return { old, made: made[0]! };
  }

  async function restartAndCheck(s: string, old: string, made: string, trail: string[], meanwhile?: () => Promise<void>): Promise<void> {
    await r.svc.start();
    await r.svc.ready();
    await meanwhile?.();
    const l = await until('the pending release to end', async () => {
      const body = (await r.call('GET', `lifecycle/${s}`)).body;
      return body.pending.length === 0 ? body : null;
    });
    assert.equal([l.state, l.prefix, l.failure], ['active', old, null], JSON.stringify(l));
    // A resumed step shows no pending entry while it runs: give it the time to reach NetBox.
    await until('NetBox to hold the new block down', () => mine(s).some((h) => h.prefix === made && h.status === 'deprecated'), 5000).catch(async () =>
      assert.unreachable(`${made} still ${mine(s).find((h) => h.prefix === made)?.status}; lifecycle ${JSON.stringify((await r.call('GET', `lifecycle/${s}`)).body)}; events ${JSON.stringify(await r.events(s))}`),
    );
    assert.equal(
      mine(s).map((h) => [h.prefix, h.status]).sort(),
      [[old, 'active'], [made, 'deprecated']].sort(),
      'the old block active, the new one released (held down) exactly once',
    );
    assert.equal(r.netbox.prefixes().filter((p) => p.prefix === made).length, 1, `NetBox has ${made} once`);
    const after = (await r.events(s)).map((e) => `${e.type} ${e.from}>${e.to}`);
    assert.equal(after.slice(0, trail.length), trail, 'the audit trail before the kill is kept as it was');
    assert.equal([r.radreply(s).filter((x) => x.attribute === 'Delegated-IPv6-Prefix').map((x) => x.value), r.delegated(s)], [[old], [old]]);
    const leaks = await r.call('POST', 'jobs/leaks');
    assert.equal([leaks.status, leaks.body.counts?.leaked, leaks.body.counts?.reclaimed], [200, 0, 0], JSON.stringify(leaks.body));
  }

  test('SIGKILL while the give-back runs: NetBox applied the PATCH, its answer lost → released once after the restart', async () => {
    const { old, made } = await rolledBack('during');
    const trail = (await r.events('during')).map((e) => `${e.type} ${e.from}>${e.to}`);
    r.netbox.clearFaults();
    r.netbox.loseAnswers(1000, { method: 'PATCH' });
    await until('NetBox to apply the give-back', () => mine('during').some((h) => h.prefix === made && h.status === 'deprecated'));
    await r.svc.kill();
    r.netbox.clearFaults();
    await restartAndCheck('during', old, made, trail);
  });

  test('SIGKILL just after NetBox took the block back, before the step is recorded done → nothing repeated wrongly', async () => {
    const { old, made } = await rolledBack('after');
    const trail = (await r.events('after')).map((e) => `${e.type} ${e.from}>${e.to}`);
    r.netbox.clearFaults();
    await until('NetBox to apply the give-back', () => mine('after').some((h) => h.prefix === made && h.status === 'deprecated'));
    await r.svc.kill();
    await restartAndCheck('after', old, made, trail);
  });

  test('SIGKILL mid-rollback (the CPE refused, radreply back on the old prefix, NetBox refusing the give-back) → active on the old prefix, the new block released once', async () => {
    const old = await r.activeSubscriber('rollback');
    const trail = (await r.events('rollback')).map((e) => `${e.type} ${e.from}>${e.to}`);
    r.acs.failNext(20, { status: 400, body: 'refused' });
    r.netbox.failNext(1000, { method: 'PATCH', status: 503 });
    const sent = r.call('POST', 'update', { subscriber_id: 'rollback' }).catch(() => null);
    const delegatedNow = () => r.radreply('rollback').find((x) => x.attribute === 'Delegated-IPv6-Prefix')?.value;
    const moved = await until('radreply on the new prefix', () => (delegatedNow() && delegatedNow() !== old ? delegatedNow() : null));
    await until('the rollback to write the old prefix back', () => delegatedNow() === old);
    await r.svc.kill();
    await sent;
    r.acs.clearFaults();
    assert.equal(mine('rollback').find((h) => h.prefix === moved)?.status, 'active', 'NetBox still holds the new block');
    // Still refused after the restart: the resumed rollback must end with the give-back pending, not lose it.
    await restartAndCheck('rollback', old, moved, trail, async () => {
      const l = await until('the give-back to be pending', async () => {
        const body = (await r.call('GET', 'lifecycle/rollback')).body;
        return body.pending.length > 0 ? body : null;
      });
      assert.equal([l.state, l.prefix, l.pending.map((p: { step: string }) => p.step)], ['active', old, ['netbox_release']], JSON.stringify(l));
      assert.equal(mine('rollback').find((h) => h.prefix === moved)?.status, 'active', 'not released while NetBox refuses');
      const leaks = await r.call('POST', 'jobs/leaks');
      assert.equal([leaks.body.counts?.leaked, leaks.body.counts?.reclaimed], [0, 0], 'the pending block is no leak');
      r.netbox.clearFaults();
    });
  });

  test.run();
}
