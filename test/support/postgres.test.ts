// The throw-away cluster really runs PostgreSQL on loopback, and stop() leaves no process or files.
import { existsSync } from 'node:fs';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { postgresAvailable, startPostgres } from './postgres.ts';

const test = suite('test/support/postgres');

test('startPostgres → a database on 127.0.0.1 we can write to; stop() ends the PID and removes the directory', async () => {
  if (!postgresAvailable('the PostgreSQL harness')) return;
  const cluster = await startPostgres();
  let stopped = false;
  try {
    const url = await cluster.createDatabase('harness_check');
    assert.match(url, new RegExp(`^postgres://postgres@127\\.0\\.0\\.1:${cluster.port}/harness_check$`));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('CREATE TABLE t (n int)');
      await client.query('INSERT INTO t VALUES (1), (2)');
      const { rows } = await client.query<{ sum: string; addr: string }>("SELECT sum(n)::text AS sum, inet_server_addr()::text AS addr FROM t");
      assert.equal(rows[0], { sum: '3', addr: '127.0.0.1/32' });
    } finally {
      await client.end();
    }
    process.kill(cluster.pid, 0); // the postmaster is ours to signal
    await cluster.stop();
    stopped = true;
    assert.throws(() => process.kill(cluster.pid, 0));
    assert.is(existsSync(cluster.dir), false);
  } finally {
    if (!stopped) await cluster.stop();
  }
});

test.run();
