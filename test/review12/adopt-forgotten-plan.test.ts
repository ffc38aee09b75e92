// Review 12 (adopt12): the plan's decision for a NetBox prefix under our mark, pure. A mark naming
// a lifecycle this store does not have (a restore from an older backup forgot it), of the entry's
// subscriber and under its first allocation's key, is adopted under that lifecycle id: the key the
// apply sends is then the one IPAM's mark has. Any other mark is a conflict the plan names, since
// IPAM would refuse the apply ("is marked for lifecycle ..."): the plan and its apply agree.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { stepKey } from '../../machines/steps.ts';
import { keyDigest } from '../../services/ipam/marked.ts';
import { adoptedLifecycleId, plan } from '../../services/adoption/plan.ts';
import { fromNetbox } from '../../services/adoption/sources.ts';
import type { NetboxFieldPrefix } from '../../services/adoption/types.ts';

const test = suite('review12: the plan of prefixes under our marks');
const LC = '01a23bd0-32d6-7586-8508-1e67a9c39a75';
const P = '2001:db8:0:100::/56';
const POOLS = [{ name: 'pd', prefix: '2001:db8::/40', prefix_length: 56, ipam: 'netbox' as const }];
const nb = (over: Partial<NetboxFieldPrefix> = {}): NetboxFieldPrefix => ({
  pool: 'pd', prefix: P, prefixLength: 56, netboxPrefixId: 7, status: 'active', lifecycleId: LC, subscriberId: 'S-1',
  markKey: { key: stepKey(LC, 'allocate', 0), digest: false }, quarantined: false, tenant: null, description: '', customFields: {}, ...over,
});
const run = (p: NetboxFieldPrefix, storedIds: Set<string> = new Set()) => {
  const known = { liveOf: () => undefined, liveWithPrefix: () => undefined, liveWithUsername: () => undefined };
  const [e] = plan({ observations: fromNetbox([p], { custom_field: 'sub' }), pools: POOLS, known, radiusRead: false, subscriberFromUsername: false, storedIds });
  return [e!.action, e!.lifecycle_id, e!.conflicts.map((c) => c.kind)];
};

test('a forgotten lifecycle\'s mark of its subscriber, first allocation: adopted under that lifecycle id (custom fields or description digest)', () => {
  assert.equal(run(nb()), ['adopt', LC, []]);
  assert.equal(run(nb({ markKey: { key: keyDigest(stepKey(LC, 'allocate', 0)), digest: true } })), ['adopt', LC, []]);
});

test('a mark the apply could not adopt under is a conflict of the plan', () => {
  // The store has that lifecycle (revoked, or live on another prefix): only it may hold the prefix.
  const [action, , kinds] = run(nb(), new Set([LC]));
  assert.equal([action, kinds], ['conflict', ['marked_lifecycle']]);
  // A later allocation's key: the lifecycle would be imported as generation 0, its keys would not agree.
  assert.equal(run(nb({ markKey: { key: stepKey(LC, 'allocate', 1), digest: false } }))[2], ['marked_lifecycle']);
  // The mark names no subscriber: the rule names one, the mark's lifecycle is not known to be theirs.
  assert.equal(run(nb({ subscriberId: null, customFields: { sub: 'S-2' } }))[2], ['marked_lifecycle']);
  // No lifecycle id of this service.
  assert.equal(run(nb({ lifecycleId: 'lc-1' }))[2], ['marked_lifecycle']);
});

test('a prefix without our mark keeps the id derived from subscriber and prefix', () => {
  assert.equal(run(nb({ lifecycleId: null, subscriberId: null, markKey: null, customFields: { sub: 'S-1' } })), ['adopt', adoptedLifecycleId('S-1', P), []]);
});

test.run();
