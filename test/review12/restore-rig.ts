// Review 12 (restore12): the database restored from an older backup while NetBox, radreply and the
// CPEs kept the newer truth. The service runs as an operator runs it (main.ts on the soak peers:
// NetBox stand-in, GenieACS stand-in, FreeRADIUS's SQLite schema) and is driven only through the
// REST API. The backup is taken as README's "Backups" says: `sqlite3 <database> ".backup <file>"`.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { answered } from '../support/soak-client.ts';
import { cpeOf, startSoakPeers, usernameOf, type SoakPeers } from '../support/soak-peers.ts';
import { freePort, soakService, type SoakService } from '../support/soak-service.ts';

export const subs = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `s${String(from + i).padStart(3, '0')}`);
/** The first 50 (before the backup), the 20 after it, and 20 more allocated once restored. */
export const FIRST = subs(1, 50);
export const AFTER = subs(51, 70);
export const MORE = subs(71, 90);
export const REVOKED = FIRST.slice(0, 10);
export const UPDATED = FIRST.slice(10, 15);

export interface Restored {
  peers: SoakPeers;
  svc: SoakService;
  /** What each subscriber held just before the stop, as the API answered it. */
  before: Map<string, { state: string; prefix: string }>;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function restoredFromOlderBackup(): Promise<Restored> {
  const dir = mkdtempSync(join(tmpdir(), 'restore12-'));
  const peers = await startSoakPeers(dir, [...FIRST, ...AFTER, ...MORE]);
  const port = await freePort();
  const { file, env } = peers.writeConfig(dir, port, 'netbox');
  // The scheduled jobs at their defaults' pace (not the soak's every second): here they run when the test asks.
  const config = parse(readFileSync(file, 'utf8'));
  config.jobs = { leaks: { cron: '0 0 1 1 *' }, reconcile: { cron: '0 0 1 1 *' }, cleanup: { cron: '0 0 1 1 *' } };
  writeFileSync(file, stringify(config));
  const svc = soakService({ config: file, port, env });
  const call = (method: string, path: string, body?: unknown) => answered(svc.origin, method, path, body);
  const live = async (s: string) => {
    const a = await call('POST', 'allocate', { subscriber_id: s });
    if (a.status !== 201) throw new Error(`allocate ${s}: ${a.status} ${JSON.stringify(a.body)}`);
    const b = await call('POST', 'activate', { subscriber_id: s, username: usernameOf(s), cpe_id: cpeOf(s) });
    if (b.status !== 200 || b.body.state !== 'active') throw new Error(`activate ${s}: ${b.status} ${JSON.stringify(b.body)}`);
  };
  await svc.start();
  await svc.ready();
  for (const s of FIRST) await live(s);

  const database = join(dir, 'lifecycle.sqlite');
  const backup = join(dir, 'backup.sqlite');
  execFileSync('sqlite3', [database, `.backup ${backup}`]);

  for (const s of AFTER) await live(s);
  for (const s of REVOKED) {
    const r = await call('POST', 'revoke', { subscriber_id: s, reason: 'terminated' });
    if (r.body.state !== 'revoked') throw new Error(`revoke ${s}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  for (const s of UPDATED) {
    const r = await call('POST', 'update', { subscriber_id: s });
    if (r.status !== 200) throw new Error(`update ${s}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  const before = new Map<string, { state: string; prefix: string }>();
  for (const s of [...FIRST, ...AFTER]) {
    const r = await call('GET', `lifecycle/${s}`);
    before.set(s, { state: r.body.state, prefix: r.body.prefix });
  }
  const code = await svc.stop();
  if (code !== 0) throw new Error(`the stop exited ${code}`);

  // The restore: the backup put back in place of the database (its WAL and shared memory gone with it).
  for (const f of [database, `${database}-wal`, `${database}-shm`]) rmSync(f, { force: true });
  copyFileSync(backup, database);
  await svc.start();
  await svc.ready();
  return {
    peers,
    svc,
    before,
    call,
    async close() {
      await svc.stop().catch(() => undefined);
      await peers.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
