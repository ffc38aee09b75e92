// Review of 094355c: the reconciliation after a restore from an older backup holds back radreply_missing
// for an ipam_missing lifecycle, but not radreply_stale. A subscriber revoked before the backup and
// allocated again after it (a returning customer) is, once restored, a revoked lifecycle here while
// radreply serves the new one's prefix, held in IPAM under the mark of a lifecycle this store forgot:
// radreply_stale's default `repair` removed the rows, and cut a live subscriber's service.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, stringify } from 'yaml';
import { answered } from '../support/soak-client.ts';
import { cpeOf, startSoakPeers, usernameOf, type SoakPeers } from '../support/soak-peers.ts';
import { freePort, soakService, type SoakService } from '../support/soak-service.ts';

const test = suite('review12: reconciliation of a subscriber re-created after the backup');
const SUBS = ['s001', 's002', 's003'];
let dir: string;
let peers: SoakPeers;
let svc: SoakService;
let after: { lifecycle_id: string; prefix: string };
const call = (method: string, path: string, body?: unknown) => answered(svc.origin, method, path, body);
const live = async (s: string) => {
  const a = await call('POST', 'allocate', { subscriber_id: s });
  assert.is(a.status, 201, JSON.stringify(a.body));
  const b = await call('POST', 'activate', { subscriber_id: s, username: usernameOf(s), cpe_id: cpeOf(s) });
  assert.is(b.body.state, 'active', JSON.stringify(b.body));
};

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'review12-recreated-'));
  peers = await startSoakPeers(dir, SUBS);
  const port = await freePort();
  const { file, env } = peers.writeConfig(dir, port, 'netbox');
  const config = parse(readFileSync(file, 'utf8'));
  config.jobs = { leaks: { cron: '0 0 1 1 *' }, reconcile: { cron: '0 0 1 1 *' }, cleanup: { cron: '0 0 1 1 *' } };
  writeFileSync(file, stringify(config));
  svc = soakService({ config: file, port, env });
  await svc.start();
  await svc.ready();
  for (const s of SUBS) await live(s);
  const gone = await call('POST', 'revoke', { subscriber_id: 's001', reason: 'terminated' });
  assert.is(gone.body.state, 'revoked', JSON.stringify(gone.body));
  const database = join(dir, 'lifecycle.sqlite');
  const backup = join(dir, 'backup.sqlite');
  execFileSync('sqlite3', [database, `.backup ${backup}`]);
  await live('s001'); // the customer comes back after the backup
  after = (await call('GET', 'lifecycle/s001')).body;
  assert.is(await svc.stop(), 0);
  for (const f of [database, `${database}-wal`, `${database}-shm`]) rmSync(f, { force: true });
  copyFileSync(backup, database);
  await svc.start();
  await svc.ready();
});
test.after(async () => {
  await svc?.stop().catch(() => undefined);
  await peers?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the re-created subscriber\'s radreply is reported, not removed: its prefix is held under a lifecycle this store forgot', async () => {
  const run = await call('POST', 'jobs/reconcile?dry_run=true');
  assert.is(run.status, 200, JSON.stringify(run.body));
  const items = (await call('GET', 'reconciliation?limit=1000')).body.items as { kind: string; subscriber_id: string | null; username: string | null; action: string; detail: any }[];
  const stale = items.filter((i) => i.kind === 'radreply_stale' && i.username === usernameOf('s001'));
  assert.is(stale.length, 1, JSON.stringify(items));
  assert.is(stale[0]!.action, 'reported', JSON.stringify(stale[0]));
  assert.is(stale[0]!.detail.forgotten_lifecycle_id, after.lifecycle_id);
  const touched = items.filter((i) => i.subscriber_id === 's001' && i.action !== 'reported');
  assert.equal(touched, [], 'neither its radreply nor its CPE would be repaired');
  const real = await call('POST', 'jobs/reconcile');
  assert.is(real.status, 200);
  assert.is(real.body.counts.repaired, 0, JSON.stringify(real.body.counts));
});

test.run();
