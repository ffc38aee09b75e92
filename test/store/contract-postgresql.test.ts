// The store contract against a real PostgreSQL (a throw-away cluster): the migrations applied once
// to a template database, and each test on a fresh copy of it.
import pg from 'pg';
import { suite } from 'uvu';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
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
      const store = await openPostgresStore({ url: cluster.adminUrl.replace(/\/postgres$/, `/${name}`), max: 4 });
      return { store, exec: async (sql) => void (await store.pool.query(sql)), dispose: () => store.close() };
    },
  });
}
