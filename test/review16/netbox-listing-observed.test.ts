// fromNetbox now reads the listing in one pass (no filtered copy of ~200,000 prefixes between, issue
// 10). What it observes must not change: every prefix but containers and our own in their hold-down,
// in the listing's order, each canonical, named by the rule or by our mark.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fromNetbox } from '../../services/adoption/sources.ts';
import type { NetboxFieldPrefix } from '../../services/adoption/types.ts';

const test = suite('fromNetbox observes the listing as before');

const nb = (i: number, over: Partial<NetboxFieldPrefix> = {}): NetboxFieldPrefix => ({
  pool: 'pd', prefix: `2001:DB8:0:${(i + 1).toString(16)}00:0::/56`, prefixLength: 56, netboxPrefixId: i, status: 'active', lifecycleId: null, subscriberId: null,
  quarantined: false, tenant: null, description: '', customFields: { sub: `C-${i}` }, markKey: null, ...over,
});

test('a mixed listing: containers and our deprecated prefixes left out, the rest in order, canonical, named', () => {
  const listing = [
    nb(0),
    nb(1, { status: 'container' }),
    nb(2, { status: 'deprecated', lifecycleId: 'lc-2', subscriberId: 'S-2' }),
    nb(3, { status: 'deprecated' }),
    nb(4, { status: 'reserved', lifecycleId: 'lc-4', subscriberId: 'S-4', markKey: { key: 'k4', digest: true } }),
    nb(5, { customFields: {} }),
    nb(6, { prefix: 'not a prefix' }),
  ];
  const obs = fromNetbox(listing, { custom_field: 'sub' });
  assert.equal(
    obs.map((o) => [o.netboxPrefixId, o.prefix, o.subscriberId, o.markedFor, o.mark ?? null]),
    [
      [0, '2001:db8:0:100::/56', 'C-0', null, null],
      [3, '2001:db8:0:400::/56', 'C-3', null, null],
      [4, '2001:db8:0:500::/56', 'S-4', 'lc-4', { subscriberId: 'S-4', key: 'k4', digest: true }],
      [5, '2001:db8:0:600::/56', null, null, null],
      [6, 'not a prefix', 'C-6', null, null],
    ],
  );
  assert.ok(obs.every((o) => o.source === 'netbox' && o.username === null && o.state === null));
});

test.run();
