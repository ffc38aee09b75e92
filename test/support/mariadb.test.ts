// The throw-away MariaDB: FreeRADIUS's schema is there, the password user gets in, a wrong password does not.
import mysql from 'mysql2/promise';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mariadbAvailable, startMariaDb } from './mariadb.ts';

if (mariadbAvailable('throw-away MariaDB')) {
  test('starts with FreeRADIUS tables, a password user, and stops by PID', async () => {
    const db = await startMariaDb();
    try {
      const conn = await mysql.createConnection({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database });
      const [rows] = await conn.query('SHOW TABLES');
      const tables = (rows as Record<string, string>[]).map((r) => Object.values(r)[0]);
      for (const t of ['radreply', 'radacct', 'radcheck']) assert.ok(tables.includes(t), t);
      await conn.end();
      const wrong = await mysql.createConnection({ host: db.host, port: db.port, user: db.user, password: 'wrong', database: db.database }).then(
        (c) => (c.end(), null),
        (e: { code?: string }) => e.code,
      );
      assert.is(wrong, 'ER_ACCESS_DENIED_ERROR');
      const pid = db.pid;
      await db.stop();
      assert.throws(() => process.kill(pid, 0));
    } finally {
      await db.stop();
    }
  });
  test.run();
}
