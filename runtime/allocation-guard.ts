// The allocation guard: an IPAM outside the store (NetBox) may answer a prefix the store still shows
// on another live lifecycle, e.g. once the database was restored from a backup older than IPAM (the
// revocations since then gave the prefixes back). Taking it would put one prefix on two subscribers.
// The embedded IPAM keeps its blocks in the store's own file, restored with it: it is not checked,
// and its allocation made at once (runtime/at-once.ts) stays one transaction.
import type { AllocateInput, Allocation } from '../machines/types.ts';
import { ServiceError } from '../services/errors.ts';
import type { IpamPort } from '../services/ipam/port.ts';

/** Another live lifecycle the store shows on `prefix` (the store's `prefixHolder`), or null. */
export type PrefixHolder = (prefix: string, lifecycleId: string) => Promise<{ id: string; subscriber_id: string; state: string } | null>;

const peerName = (kind: string) => (kind === 'netbox' ? 'NetBox' : `IPAM (${kind})`);

/**
 * Resolves when no other live lifecycle holds `got`. Otherwise gives it back (free(), safe to repeat:
 * a step re-run after a restart is answered the same prefix under its key and frees it again) and
 * throws a refusal a retry meets again until the store and IPAM agree: `upstream_rejected`, not
 * retryable, so the allocate answers 409 and the lifecycle is `failed` holding nothing.
 */
export async function refuseHeldPrefix(
  ipam: Pick<IpamPort, 'free'>,
  holderOf: PrefixHolder,
  kind: string,
  input: AllocateInput,
  got: Allocation,
  signal?: AbortSignal,
): Promise<void> {
  let holder: Awaited<ReturnType<PrefixHolder>>;
  try {
    holder = await holderOf(got.prefix, input.lifecycleId);
  } catch (err) {
    // The store busy or out of reach: the step is retried, its allocation found again under its key.
    throw new ServiceError('unavailable', `the store could not tell whether ${got.prefix} is held by another lifecycle`, { retryable: true, cause: err });
  }
  if (!holder) return;
  await ipam.free({ lifecycleId: input.lifecycleId, subscriberId: input.subscriberId, pool: input.pool, prefix: got.prefix, netboxPrefixId: got.netboxPrefixId }, signal);
  if (holder.state === 'revoking') {
    // IPAM hands a prefix out once a revocation's last step has freed it, before the store shows
    // that lifecycle revoked (the step's result not yet written, or written by another instance):
    // a revocation finishing, not a restored database. The retry allocates afresh and checks again.
    throw new ServiceError('unavailable', `${peerName(kind)} answered ${got.prefix}, which lifecycle ${holder.id} of subscriber ${holder.subscriber_id} is revoking: waiting for it to end`, {
      retryable: true,
    });
  }
  throw new ServiceError(
    'upstream_rejected',
    `${peerName(kind)} answered ${got.prefix}, which lifecycle ${holder.id} of subscriber ${holder.subscriber_id} holds in the store: ` +
      `the database may be older than IPAM (restored from a backup). The prefix was given back and nothing is held; ` +
      `run the reconciliation (POST /jobs/reconcile?dry_run=true, README "Restoring") and repair before allocating again`,
  );
}
