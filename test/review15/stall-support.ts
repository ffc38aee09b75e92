// A generated field for the IPAM comparison with drift of every kind it finds, mixed in with holdings
// that agree: held as its lifecycle says, orphans (marked, unmarked, named, in another pool), prefixes
// another lifecycle claims, allocations in flight, blocks of another length, and prefixes not held.
import { emptyIndex, indexLifecycle, type LifecycleIndex, type LifecycleView } from '../../runtime/reconcile-checks.ts';
import type { HeldPrefix } from '../../services/field/ipam.ts';

const at = '2026-01-01T00:00:00.000Z';
const prefixOf = (i: number, length = 56) => `2001:db8:${(i >> 8).toString(16)}:${((i & 0xff) << 8).toString(16)}::/${length}`;

function view(i: number, over: Partial<LifecycleView> = {}): LifecycleView {
  return { id: `lc-${i}`, subscriber_id: `sub-${i}`, state: 'active', pool: 'pd', prefix: prefixOf(i), username: `u-${i}`, cpe_id: `cpe-${i}`, created_at: at, updated_at: at, settled: true, pending: false, ...over };
}

function holding(i: number, over: Partial<HeldPrefix> = {}): HeldPrefix {
  return { source: 'ipam', pool: 'pd', prefix: prefixOf(i), prefixLength: 56, lifecycleId: `lc-${i}`, subscriberId: null, netboxPrefixId: null, status: null, quarantined: false, netbox: null, markKey: null, ...over };
}

export function driftedField(n: number): { ix: LifecycleIndex; held: HeldPrefix[]; poolLength: Map<string, number> } {
  const ix = emptyIndex();
  const held: HeldPrefix[] = [];
  for (let i = 0; i < n; i++) {
    switch (i % 10) {
      case 0: // marked, no lifecycle: a repairable orphan
        held.push(holding(i, { lifecycleId: `gone-${i}` }));
        break;
      case 1: // no mark of ours (NetBox): reported only
        held.push(holding(i, { source: 'netbox', lifecycleId: null, netboxPrefixId: i, status: 'active' }));
        break;
      case 2: // under another lifecycle's mark while a lifecycle here has it: claimed, and missing for its owner
        indexLifecycle(ix, view(i));
        held.push(holding(i, { lifecycleId: `other-${i}` }));
        break;
      case 3: // the mark names a live lifecycle holding another prefix: a named orphan
        indexLifecycle(ix, view(i, { prefix: prefixOf(i + n) }));
        held.push(holding(i), holding(i + n));
        break;
      case 4: // an allocation in flight: no orphan, no missing
        indexLifecycle(ix, view(i, { state: 'allocating', settled: false, prefix: null }));
        held.push(holding(i));
        break;
      case 5: // a lifecycle whose prefix IPAM does not hold
        indexLifecycle(ix, view(i));
        break;
      case 6: // its owner is in another pool
        indexLifecycle(ix, view(i, { pool: 'other' }));
        held.push(holding(i, { lifecycleId: `x-${i}` }));
        break;
      case 7: // a block of another length: not judged
        held.push(holding(i, { prefix: prefixOf(i, 48), prefixLength: 48, lifecycleId: null }));
        break;
      case 8: // revoked here, still held under its mark
        indexLifecycle(ix, view(i, { state: 'revoked' }));
        held.push(holding(i));
        break;
      default: // held as its lifecycle says
        indexLifecycle(ix, view(i));
        held.push(holding(i));
    }
  }
  return { ix, held, poolLength: new Map([['pd', 56], ['other', 56]]) };
}
