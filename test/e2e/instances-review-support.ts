// What the instances review's test files share: three service processes on one throw-away
// PostgreSQL with the GenieACS stand-in (the rig), reached only through the REST API, and the
// database read only to check invariants. One rig at a time: uvu runs the suites one after
// another, each file's after() stops the rig its tests started, and the next file's first up()
// starts its own.
import * as assert from 'uvu/assert';
import type { Test } from 'uvu';
import { DATABASE_URL_ENV, instancesConfig, type Rig } from '../support/instances-config.ts';
import { invariantDb, type InvariantDb } from '../support/instances-db.ts';
import { startFleet, type Instance } from '../support/instances.ts';
import { startGenieacsNbi } from '../support/genieacs-nbi.ts';
import { postgresAvailable, startPostgres } from '../support/postgres.ts';

export let rig: Rig | null = null;
let rigFailed: Error | null = null;
export let db: InvariantDb;
/** The suite whose tests started the rig that runs. */
let owner: Test | null = null;
export const on = (i: number): Instance => rig!.fleet.instances[i % rig!.fleet.instances.length]!;
export const why = () => `\n${rig!.fleet.warnings()}`;
export const cpePosts = (cpeId: string, from: number) =>
  rig!.acs.requests.slice(from).filter((r) => r.method === 'POST' && decodeURIComponent(r.url).includes(`/devices/${cpeId}/tasks`)).length;
/** Requests about the CPE since `from`: a command's first, its look at the device's tasks (GET /tasks?query={"device":…}), then its POST. */
export const cpeCalls = (cpeId: string, from: number) =>
  rig!.acs.requests.slice(from).filter((r) => {
    const url = decodeURIComponent(r.url);
    return url.includes(`/devices/${cpeId}/tasks`) || url.includes(`"device":"${cpeId}"`);
  }).length;

/** The `up()` of `test`'s tests: starts the rig on the first call (false: no PostgreSQL here); stops it after the suite. */
export function reviewRig(test: Test): () => Promise<boolean> {
  test.after(async () => {
    if (owner !== test) return;
    await db?.close();
    await rig?.close();
    [rig, rigFailed, owner] = [null, null, null];
  });
  return async function up(): Promise<boolean> {
    if (!postgresAvailable('review of three instances on one PostgreSQL')) return false;
    if (owner !== null && owner !== test) throw new Error('the rig of another suite still runs');
    owner = test;
    if (rigFailed) throw rigFailed;
    if (!rig) {
      // Commits durable (the harness turns synchronous_commit off for speed): a SIGKILLed postmaster
      // must not take acknowledged transactions with it, as it would not in production.
      const cluster = await startPostgres({ synchronous_commit: 'on' });
      const acs = await startGenieacsNbi();
      const url = await cluster.createDatabase('review');
      const fleet = await startFleet({
        count: 3,
        config: (dir) => instancesConfig(dir, acs.url),
        env: { [DATABASE_URL_ENV]: url },
      }).catch(async (e: Error) => {
        await acs.close();
        await cluster.stop();
        throw (rigFailed = e);
      });
      const close = async () => {
        await fleet.close();
        await acs.close();
        await cluster.stop();
      };
      rig = { cluster, url, acs, fleet, close };
      db = invariantDb(url);
    }
    rig.acs.clearFaults();
    rig.acs.delayMs = 0;
    for (const i of rig.fleet.instances) if (i.pid === null) await i.start();
    return true;
  };
}

// The set-up waits up to 30 s for each answer, not the default 5 s: three instances, PostgreSQL
// and the ACS share the machine with the rest of the suite, and a 202 here is load, not a finding.
export async function active(via: Instance, s: string, cpe = rig!.acs.addDevice()) {
  const a = await via.call('POST', 'allocate?wait=30000', { subscriber_id: s });
  assert.is(a.status, 201, JSON.stringify(a.body));
  const b = await via.call('POST', 'activate?wait=30000', { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id });
  assert.is(b.status, 200, JSON.stringify(b.body));
  return { cpe, lifecycle: b.body };
}
export const eventsOf = async (s: string, type: string) => (await db.audit(s)).filter((r) => r.type === type).length;
