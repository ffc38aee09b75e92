// What IPAM holds, as one list for the field: NetBox's children of each pool parent with their
// marks (services/netbox/holdings.ts reads them), and every block held under our mark elsewhere
// (the embedded IPAM, a fake) from the port's markedPrefixes(). A prefix in both is listed once,
// with NetBox's detail.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { IpamPort } from '../ipam/port.ts';
import { markedPagesOf } from '../ipam/router.ts';
import type { NetboxFieldPrefix } from '../netbox/holdings.ts';

/** One prefix IPAM holds. `source` says which IPAM; the NetBox fields are null for the others. */
export interface HeldPrefix {
  source: 'netbox' | 'ipam';
  pool: string;
  prefix: string;
  prefixLength: number;
  /** The lifecycle our mark names; null when the prefix carries no mark of ours (NetBox only). */
  lifecycleId: string | null;
  subscriberId: string | null;
  netboxPrefixId: number | null;
  status: string | null;
  quarantined: boolean;
  netbox: NetboxFieldPrefix | null;
  /** The key our mark names (NetBox's description mark keeps its digest); null when unknown. */
  markKey?: { key: string; digest: boolean } | null;
}

/** An IPAM port that may also list NetBox's field (the router, or NetBox itself). */
export type FieldIpam = IpamPort & { fieldPrefixes?: (signal?: AbortSignal) => Promise<unknown> };

/** Every prefix the IPAM holds in the configured pools, marked or not. */
export async function heldPrefixes(ipam: FieldIpam, signal?: AbortSignal): Promise<HeldPrefix[]> {
  const out = new Map<string, HeldPrefix>();
  const listed = typeof ipam.fieldPrefixes === 'function' ? ((await ipam.fieldPrefixes(signal)) as NetboxFieldPrefix[] | NetboxFieldPrefix[][]) : [];
  for (const p of (listed as unknown[]).flat() as NetboxFieldPrefix[]) {
    // A deprecated prefix of ours is in its hold-down: given back, no lifecycle's any more.
    if (p.lifecycleId !== null && p.status === 'deprecated') continue;
    out.set(`${p.pool}\u0000${p.prefix}`, {
      source: 'netbox',
      pool: p.pool,
      prefix: p.prefix,
      prefixLength: p.prefixLength,
      lifecycleId: p.lifecycleId,
      subscriberId: p.subscriberId,
      netboxPrefixId: p.netboxPrefixId,
      status: p.status,
      quarantined: p.quarantined,
      netbox: p,
      markKey: p.markKey ?? null,
    });
  }
  // Page by page, each in its own macrotask: one read of every block held the event loop for seconds.
  for await (const page of markedPagesOf(ipam, signal)) {
    await nextTurn();
    for (const m of page) {
      const key = `${m.pool}\u0000${m.prefix}`;
      if (out.has(key)) continue;
      out.set(key, {
        source: 'ipam',
        pool: m.pool,
        prefix: m.prefix,
        prefixLength: Number(m.prefix.split('/')[1]),
        lifecycleId: m.lifecycleId,
        subscriberId: null,
        netboxPrefixId: null,
        status: null,
        quarantined: false,
        netbox: null,
        markKey: { key: m.key, digest: m.keyIsDigest === true },
      });
    }
  }
  return [...out.values()];
}
