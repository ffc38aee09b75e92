// IPAM against the lifecycles: orphans (held, no lifecycle holds it) and missing (a lifecycle's prefix
// IPAM does not hold). At ISP size it is a pass over every holding (~135k at 165,000 lifecycles: 320 ms
// in one piece), so the pass is a generator that stops every `slice` items: whole for the callers that
// want an answer at once, and with a turn of the event loop between slices for the reconcile job
// (issue 10: no job holds the loop more than 50 ms). The index and the list are the job's own while
// it runs: nothing changes them between two slices.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { HeldPrefix } from '../services/field/ipam.ts';
import type { Found, LifecycleIndex, LifecycleView } from './reconcile-checks.ts';

/** Holdings or lifecycles compared between two turns of the event loop (~10 ms at 165,000). */
export const IPAM_SLICE = 5000;

/** The whole comparison in one synchronous pass. */
export function compareIpam(ix: LifecycleIndex, held: HeldPrefix[], poolLength: Map<string, number>): Found[] {
  const out: Found[] = [];
  for (const _ of ipamPass(ix, held, poolLength, out, Number.POSITIVE_INFINITY));
  return out;
}

/** The same answer as compareIpam, with `pause()` (a turn of the event loop) after every `slice` items. */
export async function compareIpamInSlices(
  ix: LifecycleIndex,
  held: HeldPrefix[],
  poolLength: Map<string, number>,
  opts: { slice?: number; pause?: () => Promise<void> } = {},
): Promise<Found[]> {
  const out: Found[] = [];
  const pause = opts.pause ?? nextTurn;
  for (const _ of ipamPass(ix, held, poolLength, out, opts.slice ?? IPAM_SLICE)) await pause();
  return out;
}

/** The settled live lifecycle the store shows on a prefix IPAM holds under another lifecycle's mark, if any. */
function claimant(ix: LifecycleIndex, h: HeldPrefix): LifecycleView | undefined {
  const owner = ix.liveByPrefix.get(h.prefix);
  return owner?.settled && h.lifecycleId !== null && h.lifecycleId !== owner.id ? owner : undefined;
}

function* ipamPass(ix: LifecycleIndex, held: HeldPrefix[], poolLength: Map<string, number>, out: Found[], slice: number): Generator<void> {
  let read = 0;
  // Stops before the item that would make a slice longer than `slice`.
  const full = () => {
    const before = read++;
    return before > 0 && before % slice === 0;
  };
  // Under another lifecycle's mark it is not held for its owner: a database older than IPAM (a restored backup).
  const heldKeys = new Set<string>();
  for (const h of held) {
    if (full()) yield;
    if (!claimant(ix, h)) heldKeys.add(`${h.pool}\u0000${h.prefix}`);
  }
  for (const h of held) {
    if (full()) yield;
    const length = poolLength.get(h.pool);
    // A block of another length (infrastructure, an aggregate) is no subscriber's prefix: not ours to judge.
    if (length !== undefined && h.prefixLength !== length) continue;
    const owner = ix.liveByPrefix.get(h.prefix);
    const claimed = claimant(ix, h);
    if (owner && (!owner.settled || owner.pool === h.pool) && !claimed) continue;
    const marked = h.lifecycleId !== null;
    const named = marked ? ix.live.get(h.lifecycleId!) : undefined;
    // Our mark on a prefix its lifecycle is still getting (an allocation in flight) is no orphan.
    if (named && !named.settled) continue;
    out.push({
      kind: 'ipam_orphan',
      lifecycle: named ?? null,
      username: null,
      prefix: h.prefix,
      cpeId: null,
      detail: { pool: h.pool, source: h.source, marked, mark_lifecycle_id: h.lifecycleId, netbox_prefix_id: h.netboxPrefixId, status: h.status, ...(claimed ? { claimed_by: claimed.subscriber_id } : {}) },
      // A prefix a live lifecycle here claims is never freed on a guess: which of the two is right is an operator's call.
      repairable: marked && !claimed,
      held: h,
    });
  }
  for (const v of ix.live.values()) {
    if (full()) yield;
    if (!v.settled || !v.prefix || heldKeys.has(`${v.pool}\u0000${v.prefix}`)) continue;
    out.push({ kind: 'ipam_missing', lifecycle: v, username: v.username, prefix: v.prefix, cpeId: v.cpe_id, detail: { pool: v.pool, state: v.state }, repairable: false });
  }
}
