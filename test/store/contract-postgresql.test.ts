// The store contract against a real PostgreSQL (a throw-away cluster): the migrations applied once
// to a template database, and each test on a fresh copy of it.
import pg from 'pg';
import { suite } from 'uvu';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
import { createPgProbe } from '../../store/postgresql/probe.ts';
import { createPgReconciliationStore } from '../../store/postgresql/reconciliation.ts';
import { openPostgresStore } from '../../store/postgresql/store.ts';
import { hasTool } from '../support/tools.ts';
import { PG_BIN, postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';
import { runStoreContract } from './contract-suite.ts';

if (!hasTool(`${PG_BIN}/initdb`)) {
  const test = suite('store contract (postgresql)');
  test('PostgreSQL is installed', () => void postgresAvailable('the store contract on PostgreSQL'));
  test.run();
} else {
  let cluster: PgCluster;
  let n = 0;
  runStoreContract({
    name: 'postgresql',
    async setup() {
      cluster = await startPostgres();
      const url = await cluster.createDatabase('contract_template');
      const pool = createPgPool({ url, max: 1 });
      await migrate(pool);
      await pool.end();
    },
    teardown: () => cluster.stop(),
    async open() {
      const name = `contract_${++n}`;
      const admin = new pg.Client({ connectionString: cluster.adminUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name} TEMPLATE contract_template`);
      await admin.end();
      const url = cluster.adminUrl.replace(/\/postgres$/, `/${name}`);
      const store = await openPostgresStore({ url, max: 4 });
      // What a standby serves after a failover: every session read-only (migrations cannot run there).
      let readOnlyPool: pg.Pool | null = null;
      return {
        store,
        exec: async (sql) => void (await store.pool.query(sql)),
        async readOnly() {
          readOnlyPool ??= createPgPool({ url: `${url}?options=${encodeURIComponent('-c default_transaction_read_only=on')}`, max: 1 });
          return { probe: createPgProbe(readOnlyPool), reconciliation: createPgReconciliationStore(readOnlyPool) };
        },
        dispose: async () => {
          await readOnlyPool?.end();
          await store.close();
        },
      };
    },
  });
}
