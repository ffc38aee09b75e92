// Suspension and reactivation killed mid-way, with FreeRADIUS on its SQLite file, a NAS that
// answers CoA and the GenieACS NBI stand-in: SIGKILL once the RADIUS reply is removed (written)
// and the CoA is on the wire, before the lifecycle records the step. After the restart, through
// the API and the stand-ins: the operation finished (not lost, not a failure), radreply and what
// FreeRADIUS answers match the state, the CPE keeps its prefix, NetBox keeps it active for the
// subscriber, the audit trail before the kill is kept and the operation recorded once.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { peerAvailable } from '../support/freeradius.ts';
import { cpeOf, startRig, type Rig } from '../review12/update-rig.ts';

const NAME = 'review14: SIGKILL mid-suspend and mid-reactivate with FreeRADIUS and GenieACS';
if (peerAvailable(NAME)) {
  const test = suite(NAME);
  let r: Rig;
  test.before(async () => {
    r = await startRig(['sus', 'react'], { tiny: false });
  });
  test.after(() => r.close());
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  const trailOf = async (s: string) => (await r.events(s)).map((e) => `${e.type} ${e.from}>${e.to}`);
  const cpePrefix = (s: string) => ['Device.DHCPv6.Client.1.Enable', 'Device.DHCPv6.Client.1.RequestPrefixes', 'Device.IP.Interface.2.IPv6Enable'].map((p) => r.acs.value(cpeOf(s), p));

  /** Holds the NAS silent, sends the operation, kills the service once the CoA reached the NAS. */
  async function killAtCoa(s: string, op: 'suspend' | 'reactivate', radreplyRows: number): Promise<string[]> {
    const trail = await trailOf(s);
    const seen = r.nas.received.length;
    r.nas.behave = () => 'drop';
    const sent = r.call('POST', op, { subscriber_id: s, ...(op === 'suspend' ? { reason: 'crash' } : {}) }).catch(() => null);
    for (const end = Date.now() + 10_000; r.nas.received.length === seen; await sleep(1)) if (Date.now() > end) throw new Error('no CoA reached the NAS');
    assert.is(r.radreply(s).length > 0 ? 'written' : 'removed', radreplyRows > 0 ? 'written' : 'removed', 'the RADIUS step ran before the CoA');
    await r.svc.kill();
    await sent;
    r.nas.behave = (req) => ({ code: req.code + 1 });
    await r.svc.start();
    await r.svc.ready();
    return trail;
  }

  /** The lifecycle once it reached `state` (a resumed step may still run just after /readyz), or as it is after 10 s. */
  async function settled(s: string, state: string) {
    let l: any;
    for (let i = 0; i < 200; i++) {
      l = (await r.call('GET', `lifecycle/${s}`)).body;
      if (l.state === state && l.pending.length === 0) return l;
      await sleep(50);
    }
    return l;
  }

  function netboxMark(prefix: string): unknown {
    return r.netbox.prefixes().filter((p) => p.prefix === prefix).map((p) => [p.status, p.customFields[MARK_FIELDS.subscriberId] ?? p.description]);
  }

  test('SIGKILL mid-suspend (radreply removed, CoA on the wire) → suspended, nothing delegated, the CPE and NetBox keep the prefix', async () => {
    const prefix = await r.activeSubscriber('sus');
    const cpe = cpePrefix('sus');
    assert.equal(cpe, [true, true, true], 'the CPE delegates before the suspension');
    const mark = netboxMark(prefix);
    const trail = await killAtCoa('sus', 'suspend', 0);
    const l = await settled('sus', 'suspended');
    assert.equal([l.state, l.prefix, l.failure, l.pending], ['suspended', prefix, null, []], JSON.stringify(l));
    assert.equal([r.radreply('sus'), r.delegated('sus')], [[], []]);
    assert.equal(cpePrefix('sus'), cpe, 'the CPE is left as it was');
    assert.equal(netboxMark(prefix), mark, 'NetBox keeps the prefix for the subscriber');
    const after = await trailOf('sus');
    assert.equal(after.slice(0, trail.length), trail, 'the audit trail before the kill is kept');
    assert.equal(after.filter((e) => e.startsWith('SUSPEND ')).length, 1, after.join('\n'));
  });

  test('SIGKILL mid-reactivate (radreply written, CoA on the wire) → active, FreeRADIUS delegates the prefix again', async () => {
    const prefix = await r.activeSubscriber('react');
    const s = await r.call('POST', 'suspend', { subscriber_id: 'react', reason: 'crash' });
    assert.is(s.body.state, 'suspended', JSON.stringify(s.body));
    const cpe = cpePrefix('react');
    const trail = await killAtCoa('react', 'reactivate', 1);
    const l = await settled('react', 'active');
    assert.equal([l.state, l.prefix, l.failure, l.pending], ['active', prefix, null, []], JSON.stringify(l));
    assert.equal([r.radreply('react').filter((x) => x.attribute === 'Delegated-IPv6-Prefix').map((x) => x.value), r.delegated('react')], [[prefix], [prefix]]);
    assert.equal(cpePrefix('react'), cpe, 'the CPE is left as it was');
    const after = await trailOf('react');
    assert.equal(after.slice(0, trail.length), trail, 'the audit trail before the kill is kept');
    assert.equal(after.filter((e) => e.startsWith('REACTIVATE ')).length, 1, after.join('\n'));
  });

  test.run();
}
