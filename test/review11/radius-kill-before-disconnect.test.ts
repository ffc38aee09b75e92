// SIGKILL between the revocation's radreply removal and its Disconnect-Request, with radreply and
// radacct on FreeRADIUS's PostgreSQL and MariaDB. The session lookup is held on a lock of radacct
// taken by another connection, so the process dies with the rows gone and nothing sent; started
// again on the same files, the service must still send the session's NAS its Disconnect.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import type { SqlServer } from '../support/freeradius.ts';
import { PG_BIN } from '../support/postgres.ts';
import { RADIUS_SQL_SERVERS } from '../support/radius-sql-service.ts';
import { freePort, soakService, type SoakService } from '../support/soak-service.ts';
import { startStandInNas, type StandInNas } from '../support/stand-in-nas.ts';

const TOKEN = 'review11-kill-disconnect-token-0123';
const BASE = '/api/v1/network/ipv6';
const DISCONNECT = 40;

/** Another connection holding a lock on radacct until `release()`: the service's session lookup waits on it. */
async function lockRadacct(sql: SqlServer): Promise<{ release(): Promise<void> }> {
  const env = { ...process.env, PGPASSWORD: sql.password, MYSQL_PWD: sql.password };
  const child: ChildProcessWithoutNullStreams =
    sql.dialect === 'postgresql'
      ? spawn(join(PG_BIN, 'psql'), ['-X', '-q', '-A', '-t', '-h', sql.host, '-p', String(sql.port), '-U', sql.user, sql.database], { env })
      : spawn('mariadb', ['--no-defaults', '-n', '-N', '-B', '-h', sql.host, '-P', String(sql.port), '-u', sql.user, sql.database], { env });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const lock = sql.dialect === 'postgresql' ? 'BEGIN; LOCK TABLE radacct IN ACCESS EXCLUSIVE MODE;' : 'LOCK TABLES radacct WRITE;';
  child.stdin.write(`${lock}\nSELECT 'locked';\n`);
  const deadline = Date.now() + 5000;
  while (!out.includes('locked')) {
    if (Date.now() > deadline) throw new Error(`radacct was not locked: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    async release() {
      child.stdin.end(sql.dialect === 'postgresql' ? 'COMMIT;\n' : 'UNLOCK TABLES;\n');
      await exited;
    },
  };
}

interface Ctx {
  sql: SqlServer;
  nas: StandInNas;
  svc: SoakService;
  dir: string;
}

for (const backend of RADIUS_SQL_SERVERS) {
  const name = `review11: SIGKILL between radreply removal and the Disconnect on ${backend.name}`;
  if (!backend.available(name)) continue;
  const t = suite<Ctx>(name, {} as Ctx);

  t.before(async (ctx) => {
    ctx.sql = await backend.open();
    ctx.nas = await startStandInNas('secret-of-the-nas');
    ctx.dir = mkdtempSync(join(tmpdir(), 'review11-kill-disconnect-'));
    const s = ctx.sql;
    const port = await freePort();
    const file = join(ctx.dir, 'service.yaml');
    writeFileSync(
      file,
      stringify({
        listen: { host: '127.0.0.1', port },
        database: join(ctx.dir, 'lifecycle.sqlite'),
        pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
        retry: { attempts: 3, base_ms: 5, max_ms: 40 },
        radius: {
          sql: { backend: s.dialect, host: s.host, port: s.port, database: s.database, user: s.user, password_env: 'RADIUS_DB_PW', statement_timeout_ms: 20_000 },
          dynamic_authorization: { timeout_ms: 200, retries: 1, nas: [{ address: ctx.nas.host, port: ctx.nas.port, secret_env: 'NAS_SECRET' }] },
        },
        log: { level: 'warn' },
      }),
    );
    ctx.svc = soakService({ config: file, port, env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, RADIUS_DB_PW: s.password, NAS_SECRET: 'secret-of-the-nas' } });
    await ctx.svc.start();
  });

  t.after(async (ctx) => {
    await ctx.svc?.stop();
    await ctx.nas?.close();
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
  });

  const call = async (ctx: Ctx, method: string, p: string, json?: unknown) => {
    const res = await fetch(`${ctx.svc.origin}${BASE}/${p}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const replies = (ctx: Ctx) => ctx.sql.run("SELECT count(*) FROM radreply WHERE username = 'kill@isp'").trim();

  t('after the restart the session is still sent its Disconnect, and the revocation finishes', async (ctx) => {
    assert.is((await call(ctx, 'POST', 'allocate', { subscriber_id: 'kill' })).status, 201);
    assert.is((await call(ctx, 'POST', 'activate', { subscriber_id: 'kill', username: 'kill@isp' })).status, 200);
    ctx.sql.run("INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) VALUES ('K1', 'u-k1', 'kill@isp', '127.0.0.1', now())");
    assert.is(replies(ctx), '1');

    const lock = await lockRadacct(ctx.sql);
    const revoke = call(ctx, 'POST', 'revoke?wait=0', { subscriber_id: 'kill' }).catch(() => null);
    const deadline = Date.now() + 10_000;
    while (replies(ctx) !== '0') {
      assert.ok(Date.now() < deadline, 'radreply was never removed');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.is(ctx.nas.received.length, 0, 'nothing was sent before the kill');
    await ctx.svc.kill();
    await revoke;
    await lock.release();

    await ctx.svc.start();
    const until = Date.now() + 15_000;
    let state = '';
    while ((state = (await call(ctx, 'GET', 'lifecycle/kill')).body.state) !== 'revoked' && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.is(state, 'revoked', ctx.svc.warnings().slice(-5).join('\n'));
    const sent = ctx.nas.received.filter((r) => r.code === DISCONNECT);
    assert.is(sent.length, 1, `${sent.length} Disconnect-Requests reached the NAS`);
    assert.ok(sent[0]!.valid);
    const events = (await call(ctx, 'GET', 'lifecycle/kill/events')).body.events as Array<{ detail: any }>;
    const out = events.flatMap((e) => (e.detail?.step === 'radius_sessions' && Array.isArray(e.detail.output) ? e.detail.output : []));
    assert.equal(out.map((o: any) => [o.session_id, o.result]), [['K1', 'ack']]);
  });

  t('killed with the Disconnect sent and unanswered: sent again after the restart, a NAK 503 there ends it as not_found', async (ctx) => {
    ctx.nas.received.length = 0;
    assert.is((await call(ctx, 'POST', 'allocate', { subscriber_id: 'kill2' })).status, 201);
    assert.is((await call(ctx, 'POST', 'activate', { subscriber_id: 'kill2', username: 'kill2@isp' })).status, 200);
    ctx.sql.run("INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) VALUES ('K2', 'u-k2', 'kill2@isp', '127.0.0.1', now())");
    ctx.nas.behave = () => 'drop';
    const revoke = call(ctx, 'POST', 'revoke?wait=0', { subscriber_id: 'kill2' }).catch(() => null);
    const deadline = Date.now() + 10_000;
    while (ctx.nas.received.length === 0) {
      assert.ok(Date.now() < deadline, 'no Disconnect was sent');
      await new Promise((r) => setTimeout(r, 5));
    }
    await ctx.svc.kill();
    await revoke;
    const before = ctx.nas.received.length;
    ctx.nas.behave = (req) => ({ code: req.code + 2, errorCause: 503 });
    await ctx.svc.start();
    const until = Date.now() + 15_000;
    let state = '';
    while ((state = (await call(ctx, 'GET', 'lifecycle/kill2')).body.state) !== 'revoked' && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.is(state, 'revoked', ctx.svc.warnings().slice(-5).join('\n'));
    assert.is(ctx.nas.received.length - before, 1, 'one Disconnect after the restart');
    const events = (await call(ctx, 'GET', 'lifecycle/kill2/events')).body.events as Array<{ detail: any }>;
    const out = events.flatMap((e) => (e.detail?.step === 'radius_sessions' && Array.isArray(e.detail.output) ? e.detail.output : []));
    assert.equal(out.map((o: any) => [o.session_id, o.result, o.error_cause]), [['K2', 'not_found', 503]]);
  });

  t.run();
}
