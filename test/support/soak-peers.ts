// The peers of the soak test, in the test's own process so that they outlive every SIGKILL of the
// service: NetBox (IPAM), a GenieACS NBI with one CPE per subscriber, a NAS that answers CoA and
// Disconnect, and FreeRADIUS's SQLite file with one open session per subscriber in `radacct`, so
// every suspension, reactivation, update and revocation talks to the NAS. Faults are switched on
// and off here, and counted.
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { startGenieacsNbi, type GenieacsNbi } from './genieacs-nbi.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer } from './netbox-server.ts';
import type { Random } from './soak-random.ts';
import { startStandInNas, type StandInNas } from './stand-in-nas.ts';

const SCHEMA = '/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql';
const NAS_SECRET = 'soak-nas-secret';
export const API_TOKEN = 'soak-api-token-0123456789';
/** The pool: a /44 split into /56, 4096 prefixes (first fit reuses freed ones quickly). */
export const SOAK_POOL = { name: 'soak', prefix: '2001:db8:100::/44', prefix_length: 56 } as const;
/** NetBox's per-request timeout; `netbox_slow` answers later than this. */
const NETBOX_TIMEOUT_MS = 400;

export const usernameOf = (subscriber: string) => `${subscriber}@soak`;
export const cpeOf = (subscriber: string) => `00D09E-SOAK-${subscriber}`;

export type FaultKind = 'netbox_503' | 'netbox_slow' | 'netbox_down' | 'acs_500' | 'acs_down' | 'cpe_offline' | 'nas_silent';
export const FAULT_KINDS: readonly FaultKind[] = ['netbox_503', 'netbox_slow', 'netbox_down', 'acs_500', 'acs_down', 'cpe_offline', 'nas_silent'];

export interface SoakPeers {
  netbox: NetboxServer;
  acs: GenieacsNbi;
  nas: StandInNas;
  radiusFile: string;
  /** Writes the service's configuration file and returns its path and the environment it needs. */
  writeConfig(dir: string, port: number, ipam: 'netbox' | 'embedded'): { file: string; env: NodeJS.ProcessEnv };
  /** Switches one fault on (for a while, or for the next few requests); counted in `faults`. */
  inject(kind: FaultKind, random: Random): void;
  /** Every fault off; offline CPEs come back and inform, so their queued tasks run. */
  clearFaults(): void;
  faults: Record<FaultKind, number>;
  close(): Promise<void>;
}

export async function startSoakPeers(dir: string, subscribers: readonly string[]): Promise<SoakPeers> {
  const netbox = await startNetboxServer({ customFields: Object.values(MARK_FIELDS) });
  const parent = netbox.addPrefix({ prefix: SOAK_POOL.prefix, status: 'container' });
  const acs = await startGenieacsNbi();
  for (const s of subscribers) acs.addDevice({ id: cpeOf(s) });
  const nas = await startStandInNas(NAS_SECRET);
  const answer = nas.behave;

  // FreeRADIUS's schema, and an open session per user, as rlm_sql's accounting would have written it.
  const radiusFile = join(dir, 'radius.sqlite');
  const radius = new Database(radiusFile);
  radius.pragma('journal_mode = WAL');
  radius.exec(readFileSync(SCHEMA, 'utf8'));
  const open = radius.prepare(
    `INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) VALUES (?, ?, ?, '127.0.0.1', datetime('now'))`,
  );
  subscribers.forEach((s, i) => open.run(`soak-sess-${i}`, `soak-uniq-${i}`, usernameOf(s)));
  radius.close();

  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => (timers.delete(t), fn()), ms);
    timers.add(t);
  };
  const offline = new Set<string>();
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;

  return {
    netbox,
    acs,
    nas,
    radiusFile,
    faults,
    writeConfig(at, port, ipam) {
      const pool = ipam === 'netbox' ? { ...SOAK_POOL, netbox: { parent_id: parent.id } } : { ...SOAK_POOL, hold_down_s: 0 };
      const config = {
        listen: { host: '127.0.0.1', port },
        database: join(at, 'lifecycle.sqlite'),
        pools: [pool],
        // Few, quick attempts: faults must be able to leave lifecycles `failed` for the retries at the end.
        retry: { attempts: 3, base_ms: 5, max_ms: 40, retry_after_max_ms: 200 },
        api: { default_wait_ms: 3000 },
        runtime: { pending_interval_ms: 200, pending_backoff_max_ms: 1000, drain_ms: 500 },
        jobs: { leaks: { cron: '* * * * * *' } },
        ...(ipam === 'netbox' ? { netbox: { url: netbox.url, timeout_ms: NETBOX_TIMEOUT_MS } } : {}),
        radius: {
          sql: { path: radiusFile },
          reply: { framed_prefix: 'first64' },
          dynamic_authorization: { timeout_ms: 40, retries: 1, nas: [{ address: '127.0.0.1', port: nas.port, secret_env: 'SOAK_NAS_SECRET' }] },
        },
        genieacs: { url: acs.url, timeout_ms: 2000, task_timeout_ms: 200 },
        log: { level: 'warn' },
      };
      const file = join(at, 'soak.yaml');
      writeFileSync(file, stringify(config));
      return { file, env: { IPV6_LIFECYCLE_API_TOKEN: API_TOKEN, NETBOX_TOKEN: V1_TOKEN, SOAK_NAS_SECRET: NAS_SECRET } };
    },
    inject(kind, random) {
      faults[kind]++;
      const span = random.int(150, 1200);
      switch (kind) {
        case 'netbox_503':
          return netbox.failNext(random.int(1, 8), { status: 503 });
        case 'netbox_slow':
          netbox.delayMs = NETBOX_TIMEOUT_MS + random.int(50, 300);
          return later(span, () => (netbox.delayMs = 0));
        case 'netbox_down':
          netbox.setDown(true);
          return later(span, () => netbox.setDown(false));
        case 'acs_500':
          return acs.failNext(random.int(1, 6), { status: 500 });
        case 'acs_down':
          acs.setDown(true);
          return later(span, () => acs.setDown(false));
        case 'cpe_offline':
          for (let i = 0; i < 3; i++) {
            const id = cpeOf(random.pick(subscribers));
            acs.setMode(id, 'offline');
            offline.add(id);
          }
          return;
        case 'nas_silent':
          nas.behave = () => 'drop';
          return later(span, () => (nas.behave = answer));
      }
    },
    clearFaults() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      netbox.clearFaults();
      acs.clearFaults();
      nas.behave = answer;
      for (const id of offline) acs.inform(id);
      offline.clear();
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      await Promise.all([netbox.close(), acs.close(), nas.close()]);
    },
  };
}
