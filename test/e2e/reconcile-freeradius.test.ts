// The reconciliation against a real FreeRADIUS: what it answers an Access-Request before and after
// the repair of radreply, and the sessions its own accounting wrote to radacct.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer } from '../support/freeradius.ts';
import { accessRequest, accounting } from '../support/radius-client.ts';

interface Ctx {
  peer: FreeRadiusPeer;
  dir: string;
  composed: Composed;
}

if (peerAvailable('reconcile against FreeRADIUS')) {
  const test = suite<Ctx>('reconcile against FreeRADIUS', {} as Ctx);

  test.before(async (ctx) => {
    ctx.peer = await startFreeRadius();
    ctx.dir = mkdtempSync(path.join(tmpdir(), 'e2e-reconcile-'));
    ctx.composed = await compose(
      parseConfig({
        database: path.join(ctx.dir, 'lifecycle.sqlite'),
        pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
        retry: { attempts: 2, base_ms: 1, max_ms: 5 },
        radius: { sql: { path: ctx.peer.dbPath } },
      }),
      { log: pino({ level: 'silent' }), env: { IPV6_LIFECYCLE_API_TOKEN: 'reconcile-e2e-token' }, overrides: { cpe: null, sessions: null } },
    );
    await ctx.composed.start();
  });

  test.after(async (ctx) => {
    await ctx.composed?.stop();
    await ctx.peer?.stop();
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
  });

  test('FreeRADIUS serves the active subscriber its prefix again and the revoked one none, after one run', async (ctx) => {
    const { service } = ctx.composed;
    const ask = async (user: string) => (await accessRequest(ctx.peer.host, ctx.peer.ports.auth, ctx.peer.secret, user, 'pw')).delegated;
    for (const u of ['alice', 'bob']) ctx.peer.addUser(u, 'pw');
    await service.allocate({ subscriber_id: 'sub-alice' }, 5000);
    await service.activate({ subscriber_id: 'sub-alice', username: 'alice' }, 5000);
    await service.allocate({ subscriber_id: 'sub-bob' }, 5000);
    await service.activate({ subscriber_id: 'sub-bob', username: 'bob' }, 5000);
    const alice = { prefix: (await service.get('sub-alice')).prefix! };
    const bob = { prefix: (await service.get('sub-bob')).prefix! };
    await service.revoke({ subscriber_id: 'sub-bob' }, 5000);

    const db = new Database(ctx.peer.dbPath);
    db.pragma('busy_timeout = 2000');
    db.prepare("DELETE FROM radreply WHERE username = 'alice'").run();
    db.prepare("INSERT INTO radreply (username, attribute, op, value) VALUES ('bob', 'Delegated-IPv6-Prefix', ':=', ?)").run(bob.prefix);
    // FreeRADIUS's own accounting opens bob's session; the NAS reported alice's prefix on it.
    await accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', username: 'bob', sessionId: 'bob-1', nasIp: '127.0.0.1' });
    db.prepare("UPDATE radacct SET delegatedipv6prefix = ? WHERE acctsessionid = 'bob-1'").run(alice.prefix);
    assert.equal([await ask('alice'), await ask('bob')], [[], [bob.prefix]]);

    const run = await ctx.composed.jobs.run('reconcile', {});
    assert.equal(
      [run.counts.radreply_missing, run.counts.radreply_stale, run.counts.session_foreign_prefix, run.counts.repaired],
      [1, 1, 1, 2],
    );
    assert.equal([await ask('alice'), await ask('bob')], [[alice.prefix], []]);
    const again = await ctx.composed.jobs.run('reconcile', {});
    assert.equal([again.counts.radreply_missing, again.counts.radreply_stale, again.counts.repaired], [0, 0, 0]);
    db.close();
  });

  test.run();
}
