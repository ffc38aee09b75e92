// The IPAM contract against the embedded IPAM on PostgreSQL (services/ipam/embedded-pg.ts), in a
// throw-away cluster: the migrations applied once to a template, each test on a fresh copy.
import pg from 'pg';
import { suite } from 'uvu';
import { createPgEmbeddedIpam } from '../../services/ipam/embedded-pg.ts';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
import { PG_BIN, postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';
import { hasTool } from '../support/tools.ts';
import { ipamContract } from './ipam-suite.ts';

if (!hasTool(`${PG_BIN}/initdb`)) {
  const test = suite('IpamPort contract: embedded on PostgreSQL');
  test('PostgreSQL is installed', () => void postgresAvailable('the IPAM contract on PostgreSQL'));
  test.run();
} else {
  let cluster: PgCluster;
  let n = 0;
  ipamContract(
    'embedded on PostgreSQL',
    async (pools) => {
      const name = `ipam_${++n}`;
      const admin = new pg.Client({ connectionString: cluster.adminUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name} TEMPLATE ipam_template`);
      await admin.end();
      const db = createPgPool({ url: cluster.adminUrl.replace(/\/postgres$/, `/${name}`), max: 4 });
      return {
        // The contract gives a released block back at once; the hold-down has its own tests.
        ipam: await createPgEmbeddedIpam(db, pools.map((p) => ({ ...p, holdDownS: 0 }))),
        pools: [...pools],
        close: () => db.end(),
      };
    },
    {
      async before() {
        cluster = await startPostgres();
        const db = createPgPool({ url: await cluster.createDatabase('ipam_template'), max: 1 });
        await migrate(db);
        await db.end();
      },
      after: () => cluster.stop(),
    },
  );
}
