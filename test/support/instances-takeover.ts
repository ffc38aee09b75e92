// A revocation caught in flight, for the take-over tests and bench: an active subscriber whose
// revocation reaches the CPE step while the ACS stand-in answers slowly, and which instance owns it
// then (its lease row names the owner; the harness knows every instance's PID).
import type { Rig } from './instances-config.ts';
import type { InvariantDb, LeaseRow } from './instances-db.ts';
import { eventually, type Answer, type Instance } from './instances.ts';

export interface InFlight {
  subscriberId: string;
  lifecycleId: string;
  cpeId: string;
  prefix: string;
  /** The answer to `POST /revoke?wait=0`. */
  revoke: Answer;
  lease: LeaseRow;
  /** The instance the lease names (or, when no PID in the owner matches, the one the request went to). */
  owner: Instance;
  ownerFromLease: boolean;
  /** Index into acs.requests where the revocation's requests start. */
  acsFrom: number;
}

/** The task POSTs the ACS saw for `cpeId` from index `from`: their uniqueKey, one per POST. */
export function cpeTaskPosts(rig: Rig, cpeId: string, from: number): (string | undefined)[] {
  return rig.acs.requests
    .slice(from)
    .filter((r) => r.method === 'POST' && decodeURIComponent(r.url).includes(`/devices/${cpeId}/tasks`))
    .map((r) => (JSON.parse(r.body) as { uniqueKey?: string }).uniqueKey);
}

/**
 * Allocates and activates `subscriberId` through `via` (with a CPE at the stand-in), then makes the
 * stand-in answer after `slowMs` and revokes through `via` with `?wait=0`; resolves once the
 * revocation's CPE task has reached the stand-in (the owner now waits on it) and the lease is read.
 */
export async function revocationInFlight(rig: Rig, db: InvariantDb, via: Instance, subscriberId: string, slowMs: number): Promise<InFlight> {
  const cpe = rig.acs.addDevice();
  const allocated = await via.call('POST', 'allocate', { subscriber_id: subscriberId });
  if (allocated.status !== 201) throw new Error(`allocate ${subscriberId} answered ${allocated.status} ${JSON.stringify(allocated.body)}`);
  const active = await via.call('POST', 'activate', { subscriber_id: subscriberId, username: `${subscriberId}@isp`, cpe_id: cpe.id });
  if (active.status !== 200 || active.body?.state !== 'active') throw new Error(`activate ${subscriberId} answered ${active.status} ${JSON.stringify(active.body)}`);
  const lc = await db.lifecycleOf(subscriberId);
  if (!lc) throw new Error(`no lifecycle row for ${subscriberId}`);
  const acsFrom = rig.acs.requests.length;
  rig.acs.delayMs = slowMs;
  const revoke = await via.call('POST', 'revoke?wait=0', { subscriber_id: subscriberId });
  await eventually(`the revocation of ${subscriberId} reaching the ACS`, 10_000, async () => (cpeTaskPosts(rig, cpe.id, acsFrom).length > 0 ? true : undefined));
  const lease = await db.lease(subscriberId);
  if (!lease) throw new Error(`a revocation in flight on ${subscriberId} (${lc.id}) has no lease row`);
  const byPid = rig.fleet.instances.find((i) => i.owns(lease.owner));
  return { subscriberId, lifecycleId: lc.id, cpeId: cpe.id, prefix: active.body.prefix, revoke, lease, owner: byPid ?? via, ownerFromLease: !!byPid, acsFrom };
}

/** Polls `GET /lifecycle/<id>` on `on` until it is no longer `revoking`; the lifecycle as it settled. */
export async function settled(on: Instance, subscriberId: string, timeoutMs: number, everyMs = 20): Promise<any> {
  return eventually(`${subscriberId} settled (via ${on.name})`, timeoutMs, async () => {
    const got = await on.call('GET', `lifecycle/${subscriberId}`);
    return got.status === 200 && !['revoking', 'pending'].includes(got.body.state) && got.body.state !== undefined ? got.body : undefined;
  }, everyMs);
}
