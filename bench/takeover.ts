// The take-over time after a kill (issue 11): three instances on one PostgreSQL (the tests' rig:
// test/support/instances-config.ts), a revocation held in its CPE step by a slow ACS stand-in, its
// owner SIGKILLed; the time until another instance reports the lifecycle settled. Most of it is the
// lease (store.lease_ms) running out, then how soon a survivor looks for expired leases.
import { LEASE_MS, startRig } from '../test/support/instances-config.ts';
import { invariantDb } from '../test/support/instances-db.ts';
import { revocationInFlight, settled } from '../test/support/instances-takeover.ts';
import { PG_BIN } from '../test/support/postgres.ts';
import { hasTool } from '../test/support/tools.ts';

export interface TakeoverFigures {
  leaseMs: number;
  /** Milliseconds from SIGKILL to `revoked` read on a survivor, one per run. */
  runsMs: number[];
  medianMs: number;
  /** Runs whose lifecycle did not end `revoked` (it settled otherwise). */
  notRevoked: number;
}

/** Null when PostgreSQL is not installed. */
export async function benchTakeover(runs: number): Promise<TakeoverFigures | null> {
  if (!hasTool(`${PG_BIN}/initdb`)) return null;
  const rig = await startRig(3, 'takeover');
  const db = invariantDb(rig.url);
  const runsMs: number[] = [];
  let notRevoked = 0;
  try {
    for (let r = 0; r < runs; r++) {
      const via = rig.fleet.instances[r % 3]!;
      const f = await revocationInFlight(rig, db, via, `takeover-${r}`, 10_000);
      const killedAt = performance.now();
      await f.owner.kill();
      rig.acs.delayMs = 0;
      const survivor = rig.fleet.instances.find((i) => i !== f.owner)!;
      const done = await settled(survivor, f.subscriberId, LEASE_MS + 60_000, 10);
      runsMs.push(performance.now() - killedAt);
      if (done.state !== 'revoked') notRevoked++;
      await f.owner.start();
    }
  } finally {
    await db.close();
    await rig.close();
  }
  const sorted = [...runsMs].sort((a, b) => a - b);
  return { leaseMs: LEASE_MS, runsMs, medianMs: sorted[Math.floor(sorted.length / 2)]!, notRevoked };
}
