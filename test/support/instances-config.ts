// The one configuration the several-instances tests and the take-over bench give every instance
// (issue 11): the store on PostgreSQL with short leases, the embedded IPAM (on PostgreSQL it lives
// in the same database), and a GenieACS stand-in as the outside step that can be made slow.
import { join } from 'node:path';
import { startFleet, type Fleet } from './instances.ts';
import { startGenieacsNbi, type GenieacsNbi } from './genieacs-nbi.ts';
import { startPostgres, type PgCluster } from './postgres.ts';

export const LEASE_MS = 2000;
export const DATABASE_URL_ENV = 'IPV6_LIFECYCLE_DATABASE_URL';
export const POOL = 'residential';

/** Every instance's configuration but `listen`. */
export function instancesConfig(dir: string, acsUrl: string): Record<string, unknown> {
  return {
    // Unused on PostgreSQL; named so that nothing falls back to ./data under the repository.
    database: join(dir, 'unused.sqlite'),
    store: { backend: 'postgresql', url_env: DATABASE_URL_ENV, pool_max: 5, lease_ms: LEASE_MS },
    // Held down after a revocation, so the freed block's quarantine row stays for the tests to read.
    pools: [{ name: POOL, prefix: '2001:db8::/32', prefix_length: 56, hold_down_s: 600 }],
    genieacs: { url: acsUrl, timeout_ms: 30_000, task_timeout_ms: 500 },
    retry: { attempts: 3, base_ms: 20, max_ms: 200 },
    runtime: { pending_interval_ms: 1000 },
    log: { level: 'warn' },
  };
}

export interface Rig {
  cluster: PgCluster;
  url: string;
  acs: GenieacsNbi;
  fleet: Fleet;
  close(): Promise<void>;
}

/** A throw-away PostgreSQL, the ACS stand-in, and `count` instances on one database. */
export async function startRig(count: number, database = 'instances'): Promise<Rig> {
  const cluster = await startPostgres();
  const acs = await startGenieacsNbi();
  let fleet: Fleet | undefined;
  try {
    const url = await cluster.createDatabase(database);
    fleet = await startFleet({ count, config: (dir) => instancesConfig(dir, acs.url), env: { [DATABASE_URL_ENV]: url } });
    const f = fleet;
    return {
      cluster,
      url,
      acs,
      fleet: f,
      async close() {
        await f.close();
        await acs.close();
        await cluster.stop();
      },
    };
  } catch (e) {
    await acs.close();
    await cluster.stop();
    throw e;
  }
}
