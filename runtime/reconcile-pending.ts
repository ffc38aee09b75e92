// A rolled-back update's block IPAM did not take back in time is a pending `<ipam>_release` step of
// its lifecycle (machines/context.ts nextReleaseDeferred), held for it until the pending worker gives
// it back: freeing it as an orphan would race that step. The lifecycle columns do not show it, so
// the snapshot is read, and only of a lifecycle with pending work that an `ipam_orphan` names (once
// per lifecycle): the batched walk of the columns stays as it is.
import { givingBack } from '../machines/context.ts';
import type { PendingStep } from '../machines/types.ts';
import type { HeldPrefix } from '../services/field/ipam.ts';
import { markedUnder } from '../services/ipam/marked.ts';
import type { LifecycleRow } from '../store/lifecycles.ts';
import { readContext } from './projection.ts';
import type { Found } from './reconcile-checks.ts';

type Release = NonNullable<PendingStep['release']>;

/** `found` without the orphans a pending release of their lifecycle gives back. */
export async function holdPendingReleases(found: Found[], get: (id: string) => Promise<LifecycleRow | undefined>): Promise<Found[]> {
  const ids = new Set(found.filter((f) => f.kind === 'ipam_orphan' && f.lifecycle?.pending).map((f) => f.lifecycle!.id));
  if (ids.size === 0) return found;
  const giving = new Map<string, Release[]>();
  for (const id of ids) {
    const row = await get(id);
    giving.set(id, row ? givingBack(readContext(row)) : []);
  }
  // One another live lifecycle claims stays reported: which of the two is right is an operator's call.
  const held = (f: Found) => f.kind === 'ipam_orphan' && f.lifecycle && f.held && !f.detail.claimed_by && heldBy(giving.get(f.lifecycle.id) ?? [], f.held);
  return found.filter((f) => !held(f));
}

function heldBy(releases: Release[], h: HeldPrefix): boolean {
  // A lost attempt's block is known by the key of its mark; where that is unknown, it is held rather
  // than freed on a guess (the pending step's own lookup under the key gives it back).
  const underKey = (key: string) => !h.markKey || markedUnder({ key: h.markKey.key, keyIsDigest: h.markKey.digest }, key);
  return releases.some((r) => r.prefixes.some((p) => p.prefix === h.prefix && p.pool === h.pool) || r.unconfirmed.some((a) => a.pool === h.pool && underKey(a.key)));
}
