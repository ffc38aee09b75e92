import type { OwnedPrefix, ReleaseInput } from '../machines/types.ts';
import type { IpamPort } from '../services/ipam/port.ts';

// What a release gives back to IPAM, shared by the release step and the pending worker (a
// rolled-back update's block IPAM did not take back in time): the same commands, so a retry later
// does exactly what the step would have done. IPAM's release and free only touch a prefix under
// this lifecycle's mark, so a block freed meanwhile and handed to someone else is left alone.

/** The IPAM command that releases or frees `p` for the input's lifecycle. */
export const ipamCommand = (input: ReleaseInput, p: OwnedPrefix) => ({
  lifecycleId: input.lifecycleId,
  subscriberId: input.subscriberId,
  pool: p.pool,
  prefix: p.prefix,
  netboxPrefixId: p.netboxPrefixId,
});

/** Releases (or, with `input.free`, frees) the input's prefixes and whatever IPAM holds under its lost attempts' keys. */
export async function giveBack(ipam: IpamPort, input: ReleaseInput, signal?: AbortSignal): Promise<void> {
  const prefixes: OwnedPrefix[] = [...input.prefixes];
  for (const a of input.unconfirmed) {
    // A lost attempt is looked up by its key, never allocated again: a rollback of an allocation
    // that failed must not need the allocation to work, and finding nothing means nothing is held.
    const held = await ipam.allocatedUnder({ key: a.key, lifecycleId: input.lifecycleId, pool: a.pool }, signal);
    for (const got of held) {
      // Its answer never reached the lifecycle, so nothing carries it: free at once.
      if (!prefixes.some((p) => p.prefix === got.prefix)) await ipam.free(ipamCommand(input, { ...got, pool: a.pool, generation: a.generation, ipam: a.ipam }), signal);
    }
  }
  for (const p of prefixes) await (input.free ? ipam.free(ipamCommand(input, p), signal) : ipam.release(ipamCommand(input, p), signal));
}
