// Review 8: `sessions.suspend: coa` (config.ts; docs/radius.md "a `coa` notification means the
// attributes changed"). Suspension withdraws IPv6 (API.md: "IPv6 service is withdrawn (RADIUS
// attributes, CoA)"), so its CoA-Request must not hand the NAS the very prefix being withdrawn.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startStandInNas, type StandInNas } from '../support/stand-in-nas.ts';
import { startService, type Service } from '../review7/support.ts';

const SCHEMA = '/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql';
const SECRET = 'review8-coa-secret';
const DELEGATED_IPV6_PREFIX = 123;
const test = suite('REVIEW8 suspend with sessions.suspend = coa');
let nas: StandInNas;
let svc: Service;

test.before(async () => {
  nas = await startStandInNas(SECRET);
  svc = await startService(
    (dir) => ({
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
      sessions: { suspend: 'coa', revoke: 'coa' },
      radius: {
        sql: { path: join(dir, 'radius.sqlite'), create_schema: true, schema_file: SCHEMA },
        dynamic_authorization: { default_secret_env: 'COA_SECRET', timeout_ms: 200, retries: 0, nas: [{ address: nas.host, port: nas.port }] },
      },
    }),
    { env: { COA_SECRET: SECRET } },
  );
});
test.after(async () => {
  await svc.close();
  await nas.close();
});

test('REVIEW8 suspend (coa): the CoA-Request sent to the session\'s NAS does not carry the withdrawn prefix', async () => {
  const a = await svc.post('allocate', { subscriber_id: 'sus-1' });
  assert.is((await svc.post('activate', { subscriber_id: 'sus-1', username: 'sus-1@isp.example' })).status, 200);
  const radius = new Database(join(svc.dir, 'radius.sqlite'));
  radius
    .prepare("INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, delegatedipv6prefix) VALUES ('S1', 'u-s1', 'sus-1@isp.example', ?, datetime('now'), ?)")
    .run(nas.host, a.body.prefix);
  const replies = radius.prepare("SELECT count(*) AS n FROM radreply WHERE username = 'sus-1@isp.example'");
  const s = await svc.post('suspend', { subscriber_id: 'sus-1' });
  const left = (replies.get() as { n: number }).n;
  radius.close();
  assert.equal([s.status, s.body.state], [200, 'suspended'], s.text);
  assert.is(left, 0, 'radreply withdrawn');
  const coa = nas.received.filter((r) => r.code === 43);
  assert.is(coa.length, 1, 'one CoA-Request reached the NAS');
  const carried = coa[0]!.attributes.filter((x) => x.type === DELEGATED_IPV6_PREFIX);
  assert.equal(carried.length, 0, `the suspension's CoA-Request tells the NAS to delegate ${a.body.prefix} (Delegated-IPv6-Prefix present)`);
});

test('REVIEW8 revoke (coa): the CoA-Request does not carry the prefix being given back', async () => {
  const a = await svc.post('allocate', { subscriber_id: 'rev-1' });
  assert.is((await svc.post('activate', { subscriber_id: 'rev-1', username: 'rev-1@isp.example' })).status, 200);
  const radius = new Database(join(svc.dir, 'radius.sqlite'));
  radius
    .prepare("INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, delegatedipv6prefix) VALUES ('R1', 'u-r1', 'rev-1@isp.example', ?, datetime('now'), ?)")
    .run(nas.host, a.body.prefix);
  radius.close();
  const before = nas.received.length;
  const r = await svc.post('revoke', { subscriber_id: 'rev-1' });
  assert.equal([r.status, r.body.state], [200, 'revoked'], r.text);
  const coa = nas.received.slice(before).filter((x) => x.code === 43);
  assert.is(coa.length, 1, 'one CoA-Request reached the NAS');
  assert.equal(coa[0]!.attributes.filter((x) => x.type === DELEGATED_IPV6_PREFIX).length, 0, `the revocation's CoA-Request tells the NAS to delegate ${a.body.prefix}`);
});

test.run();
