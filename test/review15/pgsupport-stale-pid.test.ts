// PgCluster after someone else's `pg_ctl restart` (an operator, or a test driving pg_ctl itself):
// the postmaster is a new process, so a PID remembered at start names nothing. kill(), restart()
// and stop() must act on the postmaster running now: the first line of postmaster.pid.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PG_BIN, postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('review15: PgCluster acts on the current postmaster after an outside pg_ctl restart');

// pg_ctl as the account the harness runs the server as (it refuses root).
const account = () => {
  if (process.getuid?.() !== 0) return {};
  const id = (f: string) => Number(spawnSync('id', [f, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
};
const pgCtlRestart = (c: PgCluster) => {
  const r = spawnSync(join(PG_BIN, 'pg_ctl'), ['-D', join(c.dir, 'data'), '-l', join(c.dir, 'server.log'), '-m', 'fast', '-w', '-t', '30', 'restart'], { encoding: 'utf8', ...account(), env: { ...process.env, LC_ALL: 'C' } });
  assert.is(r.status, 0, `pg_ctl restart: ${r.stdout}${r.stderr}`);
};
const filePid = (c: PgCluster) => Number(readFileSync(join(c.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function rows(url: string): Promise<number[] | string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return (await client.query<{ n: number }>('SELECT n FROM t ORDER BY n')).rows.map((r) => r.n);
  } catch (e) {
    return (e as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A cluster with table t (1, 2), restarted by pg_ctl behind the harness's back; `body` runs on it; no postmaster outlives it. */
async function afterOutsideRestart(body: (c: PgCluster, url: string, before: number) => Promise<void>) {
  const c = await startPostgres();
  const before = c.pid;
  let after = 0;
  try {
    const url = await c.createDatabase('stale');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2)');
    await client.end();
    pgCtlRestart(c);
    after = filePid(c);
    assert.is.not(after, before, 'pg_ctl restart runs a new postmaster');
    await body(c, url, before);
  } finally {
    let current = 0;
    try {
      current = filePid(c);
    } catch {}
    await c.stop();
    // The postmaster our pg_ctl started: ours to end if stop() missed it.
    for (const pid of new Set([after, current])) {
      if (pid > 0 && alive(pid)) {
        process.kill(pid, 'SIGQUIT');
        assert.unreachable(`stop() left postmaster ${pid} running`);
      }
    }
  }
}

test('pid after an outside pg_ctl restart → the running postmaster, not the one it started', async () => {
  if (!postgresAvailable('review15 PgCluster stale PID')) return;
  await afterOutsideRestart(async (c) => {
    assert.is(c.pid, filePid(c));
    assert.ok(alive(c.pid));
  });
});

test('kill() after an outside pg_ctl restart → the running postmaster dies; restart() brings the data back', async () => {
  if (!postgresAvailable('review15 PgCluster stale PID')) return;
  await afterOutsideRestart(async (c, url) => {
    const running = filePid(c);
    c.kill();
    const deadline = Date.now() + 5000;
    while (alive(running) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.is(alive(running), false, `kill() left postmaster ${running} running`);
    await c.restart();
    assert.is.not(c.pid, running);
    assert.ok(alive(c.pid));
    assert.equal(await rows(url), [1, 2]);
  });
});

test('restart() after an outside pg_ctl restart → resolves at once on the running server, which still serves', async () => {
  if (!postgresAvailable('review15 PgCluster stale PID')) return;
  await afterOutsideRestart(async (c, url) => {
    const running = filePid(c);
    const t0 = Date.now();
    const got = await c.restart().then(() => 'ok', (e: Error) => e.message.split('\n')[0]!);
    assert.is(got, 'ok');
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
    assert.is(c.pid, running);
    assert.equal(await rows(url), [1, 2]);
  });
});

test('stop() after an outside pg_ctl restart → the running postmaster ends too', async () => {
  if (!postgresAvailable('review15 PgCluster stale PID')) return;
  await afterOutsideRestart(async () => undefined); // afterOutsideRestart's finally checks it
});

test.run();
