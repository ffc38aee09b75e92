// The store contract against SQLite: the better-sqlite3 stores behind the async port.
import { openDatabase } from '../../store/db.ts';
import { sqliteStorePort } from '../../store/sqlite-port.ts';
import { runStoreContract } from './contract-suite.ts';

runStoreContract({
  name: 'sqlite',
  async open() {
    const db = openDatabase(':memory:');
    const store = sqliteStorePort(db, () => db.close());
    return {
      store,
      exec: async (sql) => void db.exec(sql),
      readOnly: async () => (db.pragma('query_only = ON'), store),
      dispose: () => store.close(),
    };
  },
});
