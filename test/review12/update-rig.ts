// The peers of the review12 update tests, in the test's own process so that they outlive every
// SIGKILL of the service: NetBox (deprecate mode, so a released prefix is visibly held down), a real
// FreeRADIUS on its SQLite file (radreply is what it answers; radclient asks it), a NAS that answers
// CoA, and a GenieACS NBI with one CPE per subscriber. The service runs as `main.ts` in a child.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { startFreeRadius, type FreeRadiusPeer } from '../support/freeradius.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer } from '../support/netbox-server.ts';
import { freePort, soakService, type SoakService } from '../support/soak-service.ts';
import { startStandInNas, type StandInNas } from '../support/stand-in-nas.ts';

const TOKEN = 'review12-update-api-token-0123456789';
const NAS_SECRET = 'review12-nas-secret';
const BASE = '/api/v1/network/ipv6';
export const PASSWORD = 'pw-review12';
export const userOf = (s: string) => `${s}@review12`;
export const cpeOf = (s: string) => `00D09E-R12-${s}`;

export interface Reply {
  status: number;
  body: any;
}

export interface Rig {
  netbox: NetboxServer;
  radius: FreeRadiusPeer;
  acs: GenieacsNbi;
  nas: StandInNas;
  svc: SoakService;
  call(method: string, p: string, json?: unknown, headers?: Record<string, string>): Promise<Reply>;
  /** allocate + activate with a username and CPE, and an open radacct session, so update sends CoA. */
  activeSubscriber(s: string): Promise<string>;
  /** What FreeRADIUS itself answers an Access-Request of the subscriber with (radclient). */
  delegated(s: string): string[];
  /** The radreply rows of the subscriber's username. */
  radreply(s: string): Array<{ attribute: string; value: string }>;
  /** NetBox /56 rows under our mark, by status. */
  held(): Array<{ prefix: string; status: string; subscriber: unknown; comments: string }>;
  /** The tasks the ACS holds for the subscriber's CPE (done or queued). */
  cpeTasks(s: string): unknown[];
  events(s: string): Promise<Array<{ type: string; from: string; to: string; detail: any }>>;
  close(): Promise<void>;
}

/** `runtime` is merged into the service's `runtime` settings (review14: `stale_allocated_after_s`). */
export async function startRig(subscribers: readonly string[], opts: { tiny?: boolean; runtime?: Record<string, unknown> } = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'review12-update-'));
  const netbox = await startNetboxServer({ customFields: Object.values(MARK_FIELDS) });
  const parent = netbox.addPrefix({ prefix: '2001:db8:100::/44', status: 'container' });
  // A pool of two /56 for the exhaustion case.
  const tiny = netbox.addPrefix({ prefix: '2001:db8:200::/55', status: 'container' });
  const radius = await startFreeRadius();
  const acs = await startGenieacsNbi();
  for (const s of subscribers) acs.addDevice({ id: cpeOf(s) });
  const nas = await startStandInNas(NAS_SECRET);
  const port = await freePort();
  const file = join(dir, 'service.yaml');
  writeFileSync(
    file,
    stringify({
      listen: { host: '127.0.0.1', port },
      database: join(dir, 'lifecycle.sqlite'),
      pools: [
        { name: 'pd', prefix: '2001:db8:100::/44', prefix_length: 56, netbox: { parent_id: parent.id } },
        ...(opts.tiny === false ? [] : [{ name: 'tiny', prefix: '2001:db8:200::/55', prefix_length: 56, netbox: { parent_id: tiny.id } }]),
      ],
      retry: { attempts: 3, base_ms: 5, max_ms: 40, retry_after_max_ms: 200 },
      api: { default_wait_ms: 8000 },
      runtime: { pending_interval_ms: 200, pending_backoff_max_ms: 1000, drain_ms: 500, ...opts.runtime },
      netbox: { url: netbox.url, timeout_ms: 400, release: { mode: 'deprecate', hold_down_s: 3600 } },
      radius: {
        sql: radius.sqlConfig,
        dynamic_authorization: { timeout_ms: 100, retries: 1, nas: [{ address: '127.0.0.1', port: nas.port, secret_env: 'R12_NAS_SECRET' }] },
      },
      genieacs: { url: acs.url, timeout_ms: 2000, task_timeout_ms: 200 },
      log: { level: 'warn' },
    }),
  );
  const svc = soakService({ config: file, port, env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, NETBOX_TOKEN: V1_TOKEN, R12_NAS_SECRET: NAS_SECRET, ...radius.env } });
  await svc.start();
  await svc.ready();
  const db = () => new Database(radius.dbPath);

  const rig: Rig = {
    netbox,
    radius,
    acs,
    nas,
    svc,
    async call(method, p, json, headers = {}) {
      const res = await fetch(`${svc.origin}${BASE}/${p}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await res.text();
      let body: any = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: res.status, body };
    },
    async activeSubscriber(s) {
      radius.addUser(userOf(s), PASSWORD);
      const d = db();
      d.prepare(`INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) VALUES (?, ?, ?, '127.0.0.1', datetime('now'))`).run(
        `sess-${s}`,
        `uniq-${s}`,
        userOf(s),
      );
      d.close();
      const a = await rig.call('POST', 'allocate', { subscriber_id: s });
      if (a.status !== 201) throw new Error(`allocate ${s}: ${a.status} ${JSON.stringify(a.body)}`);
      const b = await rig.call('POST', 'activate', { subscriber_id: s, username: userOf(s), cpe_id: cpeOf(s) });
      if (b.status !== 200 || b.body.state !== 'active') throw new Error(`activate ${s}: ${b.status} ${JSON.stringify(b.body)}`);
      return b.body.prefix as string;
    },
    delegated(s) {
      const r = spawnSync('radclient', ['-x', '-r', '1', '-t', '2', `127.0.0.1:${radius.ports.auth}`, 'auth', radius.secret], {
        input: `User-Name = "${userOf(s)}", User-Password = "${PASSWORD}"\n`,
        encoding: 'utf8',
      });
      return [...r.stdout.matchAll(/Delegated-IPv6-Prefix = (\S+)/g)].map((m) => m[1]!);
    },
    radreply(s) {
      const d = db();
      try {
        return d.prepare('SELECT attribute, value FROM radreply WHERE username = ? ORDER BY id').all(userOf(s)) as Array<{ attribute: string; value: string }>;
      } finally {
        d.close();
      }
    },
    held() {
      return netbox
        .prefixes()
        .filter((p) => p.prefix.endsWith('/56') && (p.tags as unknown[]).length > 0)
        .map((p) => ({ prefix: p.prefix, status: p.status, subscriber: p.customFields[MARK_FIELDS.subscriberId] ?? p.description, comments: p.comments }));
    },
    cpeTasks(s) {
      return acs.tasks(cpeOf(s));
    },
    async events(s) {
      return (await rig.call('GET', `lifecycle/${s}/events`)).body.events;
    },
    async close() {
      await svc.stop().catch(() => undefined);
      await Promise.all([netbox.close(), acs.close(), nas.close(), radius.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return rig;
}
