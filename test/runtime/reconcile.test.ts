// The reconciliation over a seeded messy field: a NetBox pool (the NetBox stand-in) with marked,
// unmarked and foreign prefixes, FreeRADIUS's own schema with radreply rows for active, suspended
// and long-gone users and open, stale and closed sessions, and a CPE (the NBI stand-in) still
// delegating after its revocation.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { peerAvailable } from '../support/freeradius.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer } from '../support/netbox-server.ts';
import { serveApi } from '../support/served-api.ts';

const TOKEN = 'reconcile-test-token';
const PD_ON: [string, boolean][] = [
  ['Device.IP.Interface.2.IPv6Enable', true],
  ['Device.DHCPv6.Client.1.Enable', true],
  ['Device.DHCPv6.Client.1.RequestPrefixes', true],
];
const sqlTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

interface Field {
  svc: Composed;
  netbox: NetboxServer;
  acs: GenieacsNbi;
  radius: Database.Database;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  prefixOf: Record<string, string>;
  origin: string;
  close(): Promise<void>;
}

async function seededField(): Promise<Field> {
  const dir = mkdtempSync(join(tmpdir(), 'reconcile-'));
  const netbox = await startNetboxServer({ customFields: Object.values(MARK_FIELDS) });
  const parent = netbox.addPrefix({ prefix: '2001:db8::/40', status: 'container' });
  const acs = await startGenieacsNbi();
  const radiusPath = join(dir, 'radius.sqlite');
  const svc = await compose(
    parseConfig({
      database: join(dir, 'svc.sqlite'),
      retry: { attempts: 2, base_ms: 1, max_ms: 5 },
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, netbox: { parent_id: parent.id } }],
      netbox: { url: netbox.url, timeout_ms: 2000 },
      radius: { sql: { path: radiusPath, create_schema: true } },
      genieacs: { url: acs.url, timeout_ms: 5000, task_timeout_ms: 500 },
      // The unknown users' rows planted in the pools are to go too (the default only reports them).
      reconcile: { repair: { radreply_stale_unknown: 'repair' } },
    }),
    { log: pino({ level: 'silent' }), env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, NETBOX_TOKEN: V1_TOKEN }, overrides: { sessions: null } },
  );
  await svc.start();
  const { call, origin, close: unserve } = await serveApi(svc.app, TOKEN);
  const radius = new Database(radiusPath);
  radius.pragma('busy_timeout = 2000');
  const prefixOf: Record<string, string> = {};
  const cpe = (name: string) => acs.addDevice({ id: `00AABB-PD-${name}` }).id;
  const activate = async (sub: string, username: string, cpeId?: string) => {
    prefixOf[sub] = (await call('POST', 'allocate', { subscriber_id: sub })).body.prefix;
    const a = await call('POST', 'activate', { subscriber_id: sub, username, ...(cpeId ? { cpe_id: cpeId } : {}) });
    assert.is(a.body.state, 'active', `${sub} active`);
  };

  await activate('s-ok', 'ok@isp', cpe('OK'));
  await activate('s-active', 'active@isp', cpe('ACTIVE'));
  radius.prepare("DELETE FROM radreply WHERE username = 'active@isp'").run(); // radreply_missing
  await activate('s-susp', 'susp@isp');
  await call('POST', 'suspend', { subscriber_id: 's-susp' });
  radius.prepare("INSERT INTO radreply (username, attribute, op, value) VALUES ('susp@isp', 'Delegated-IPv6-Prefix', ':=', ?)").run(prefixOf['s-susp']); // radreply_stale
  const goneCpe = cpe('GONE');
  await activate('s-gone', 'gone@isp', goneCpe);
  assert.is((await call('POST', 'revoke', { subscriber_id: 's-gone' })).body.state, 'revoked');
  for (const [p, v] of PD_ON) acs.device(goneCpe).params.get(p)!.value = v; // cpe_still_delegating
  radius.prepare("INSERT INTO radreply (username, attribute, op, value) VALUES ('gone@isp', 'Delegated-IPv6-Prefix', ':=', ?)").run(prefixOf['s-gone']); // radreply_stale
  prefixOf['s-lost'] = (await call('POST', 'allocate', { subscriber_id: 's-lost' })).body.prefix;
  const lost = netbox.prefixes().find((p) => p.prefix === prefixOf['s-lost'])!;
  netbox.table.rows.delete(lost.id); // ipam_missing

  // NetBox: an unmarked legacy /56 (ipam_orphan), a foreign /48 (not a subscriber prefix), a marked prefix of no lifecycle (ipam_orphan).
  netbox.addPrefix({ prefix: '2001:db8:f0::/56', status: 'active', description: 'legacy cust 1234' });
  netbox.addPrefix({ prefix: '2001:db8:e0::/48', status: 'active', description: 'infrastructure' });
  netbox.addPrefix({
    prefix: '2001:db8:f1::/56',
    status: 'active',
    tags: ['ipv6-lifecycle'],
    customFields: { lifecycle_id: 'lc-long-gone', lifecycle_subscriber_id: 'sub-long-gone', lifecycle_key: 'lc-long-gone:allocate:1' },
  });
  // radreply of users nobody here knows: one inside our pool (stale), one outside every pool (reported only).
  const reply = radius.prepare("INSERT INTO radreply (username, attribute, op, value) VALUES (?, 'Delegated-IPv6-Prefix', ':=', ?)");
  reply.run('ghost@isp', '2001:db8:f0::/56');
  reply.run('legacy@isp', '2001:db9:1::/56');
  radius.prepare("INSERT INTO radreply (username, attribute, op, value) VALUES ('ok@isp', 'Session-Timeout', ':=', '3600')").run(); // not ours

  const now = Date.now();
  const acct = radius.prepare(
    `INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime, acctstoptime, delegatedipv6prefix)
     VALUES (?, ?, ?, '192.0.2.1', ?, ?, ?, ?)`,
  );
  acct.run('a1', 'u-a1', 'ok@isp', sqlTime(now - 3_600_000), sqlTime(now - 60_000), null, prefixOf['s-ok']); // fine
  acct.run('a2', 'u-a2', 'active@isp', sqlTime(now - 3_600_000), sqlTime(now - 60_000), null, prefixOf['s-ok']); // session_foreign_prefix
  acct.run('a3', 'u-a3', 'susp@isp', sqlTime(now - 20 * 86_400_000), sqlTime(now - 10 * 86_400_000), null, prefixOf['s-ok']); // stale: a lost Stop
  acct.run('a4', 'u-a4', 'gone@isp', sqlTime(now - 3_600_000), sqlTime(now - 60_000), sqlTime(now - 30_000), prefixOf['s-ok']); // closed

  return {
    svc,
    netbox,
    acs,
    radius,
    call,
    prefixOf,
    origin,
    async close() {
      radius.close();
      await unserve();
      await svc.stop();
      await acs.close();
      await netbox.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const kinds = (items: { kind: string; subscriber_id: string | null; username: string | null; prefix: string | null }[]) =>
  items.map((i) => `${i.kind} ${i.subscriber_id ?? '-'} ${i.username ?? '-'} ${i.prefix ?? '-'}`).sort();

if (peerAvailable('reconcile: a seeded messy field')) {
  const test = suite('reconcile: a seeded messy field');
  let f: Field;
  test.before.each(async () => {
    f = await seededField();
  });
  test.after.each(async () => {
    await f.close();
  });

  test('the dry run names every planted difference and nothing else, and changes nothing', async () => {
    const p = f.prefixOf;
    const replyRows = () => f.radius.prepare('SELECT username, attribute, value FROM radreply ORDER BY id').all();
    const before = { rows: replyRows(), tasks: f.acs.tasks().length, prefixes: f.netbox.prefixes().length };
    const none = await f.call('GET', 'reconciliation');
    assert.equal([none.status, none.body], [200, { run: null, items: [], next_cursor: null }]);
    const badKind = await f.call('GET', 'reconciliation?kind=leak');
    assert.equal([badKind.status, badKind.body.error.field], [400, 'kind']);
    const badCursor = await f.call('GET', 'reconciliation?cursor=abc');
    assert.equal([badCursor.status, badCursor.body.error.field], [400, 'cursor']);
    const dry = await f.call('POST', 'jobs/reconcile?dry_run=true', {});
    assert.is(dry.status, 200);
    const listed = await f.call('GET', 'reconciliation?limit=1000');
    const expected = [
      'ipam_orphan - - 2001:db8:f0::/56',
      'ipam_orphan - - 2001:db8:f1::/56',
      `ipam_missing s-lost - ${p['s-lost']}`,
      `radreply_missing s-active active@isp ${p['s-active']}`,
      `radreply_stale s-susp susp@isp ${p['s-susp']}`,
      `radreply_stale s-gone gone@isp ${p['s-gone']}`,
      'radreply_stale - ghost@isp 2001:db8:f0::/56',
      'radreply_stale - legacy@isp 2001:db9:1::/56',
      `session_foreign_prefix s-active active@isp ${p['s-ok']}`,
      `cpe_still_delegating s-gone gone@isp ${p['s-gone']}`,
    ].sort();
    assert.equal(kinds(listed.body.items), expected);
    assert.is(listed.body.run.dry_run, true);
    assert.equal(dry.body.counts, {
      ipam_orphan: 2, ipam_missing: 1, radreply_missing: 1, radreply_stale: 4, session_foreign_prefix: 1, cpe_still_delegating: 1, cpe_not_delegating: 0, repaired: 0, would_repair: 5,
    });
    const would = listed.body.items.filter((i: { action: string }) => i.action === 'would_repair').map((i: { kind: string; username: string }) => `${i.kind} ${i.username}`).sort();
    assert.equal(would, ['cpe_still_delegating gone@isp', 'radreply_missing active@isp', 'radreply_stale ghost@isp', 'radreply_stale gone@isp', 'radreply_stale susp@isp']);
    assert.equal({ rows: replyRows(), tasks: f.acs.tasks().length, prefixes: f.netbox.prefixes().length }, before);
    const byKind = await f.call('GET', 'reconciliation?kind=radreply_stale&limit=3');
    assert.equal([byKind.body.items.length, typeof byKind.body.next_cursor], [3, 'string']);
    const rest = await f.call('GET', `reconciliation?kind=radreply_stale&limit=3&cursor=${byKind.body.next_cursor}`);
    assert.equal([rest.body.items.length, rest.body.next_cursor], [1, null]);
  });

  test('the real run repairs per policy, each repair an audit event; a second run changes nothing', async () => {
    const p = f.prefixOf;
    const real = await f.call('POST', 'jobs/reconcile', {});
    assert.is(real.status, 200);
    assert.is(real.body.counts.repaired, 5);
    const rows = (u: string) => f.radius.prepare('SELECT attribute, value FROM radreply WHERE username = ? ORDER BY attribute').all(u);
    assert.equal(rows('active@isp').map((r: any) => r.value).includes(p['s-active']), true, 'the active lifecycle has its reply back');
    assert.equal([rows('susp@isp'), rows('gone@isp'), rows('ghost@isp')], [[], [], []]);
    assert.equal(rows('legacy@isp').length, 1, 'outside every pool: reported, never removed');
    assert.equal(rows('ok@isp').map((r: any) => r.attribute).includes('Session-Timeout'), true);
    assert.is(f.acs.value('00AABB-PD-GONE', 'Device.DHCPv6.Client.1.Enable'), false, 'the CPE removal ran');
    const gone = (await f.call('GET', 'lifecycle/s-gone/events')).body.events.filter((e: { type: string }) => e.type === 'RECONCILED');
    assert.equal(gone.map((e: any) => [e.detail.kind, e.detail.action]).sort(), [['cpe_still_delegating', 'repaired'], ['radreply_stale', 'repaired']]);
    const active = (await f.call('GET', 'lifecycle/s-active/events')).body.events.filter((e: { type: string }) => e.type === 'RECONCILED');
    assert.equal(active.map((e: any) => [e.detail.kind, e.detail.repair]), [['radreply_missing', 'radreply_written']]);
    const gauge = await readGauge(f);
    assert.equal(gauge, { ipam_orphan: 2, ipam_missing: 1, radreply_missing: 0, radreply_stale: 1, session_foreign_prefix: 1, cpe_still_delegating: 0, cpe_not_delegating: 0 });

    const snapshot = () => ({
      rows: f.radius.prepare('SELECT username, attribute, op, value FROM radreply ORDER BY id').all(),
      tasks: f.acs.tasks().length,
      requests: f.acs.requests.filter((r) => r.method !== 'GET').length,
      prefixes: f.netbox.prefixes().map((x) => `${x.prefix} ${x.status}`),
      audit: f.svc.db.prepare("SELECT count(*) AS n FROM audit WHERE type = 'RECONCILED'").get(),
    });
    const before = snapshot();
    const again = await f.call('POST', 'jobs/reconcile', {});
    assert.is(again.body.counts.repaired, 0);
    assert.equal(snapshot(), before);
    const left = await f.call('GET', 'reconciliation');
    assert.equal(kinds(left.body.items), [
      'ipam_orphan - - 2001:db8:f0::/56',
      'ipam_orphan - - 2001:db8:f1::/56',
      `ipam_missing s-lost - ${p['s-lost']}`,
      'radreply_stale - legacy@isp 2001:db9:1::/56',
      `session_foreign_prefix s-active active@isp ${p['s-ok']}`,
    ].sort());
    assert.ok(left.body.items.every((i: { action: string }) => i.action === 'reported'));
  });

  test.run();
}

async function readGauge(f: Field): Promise<Record<string, number>> {
  const text = await (await fetch(`${f.origin}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^ipv6_reconciliation_discrepancies\{kind="(\w+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}
